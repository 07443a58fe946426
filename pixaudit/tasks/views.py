"""Task pages: my work, all tasks, a task (comments, attachments, assign, close, reopen)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from pixaudit.accounts.permissions import action_required, can
from pixaudit.auditlog.services import audit_log_record
from pixaudit.evidence.manual import max_upload_bytes
from pixaudit.manualevidence.uploads import LimitedUploadHandler
from pixaudit.tasks import selectors, services
from pixaudit.tasks.forms import (
    AssignForm,
    AttachForm,
    CloseForm,
    CommentForm,
    ReopenForm,
    TaskForm,
)
from pixaudit.tasks.models import Task, TaskAttachment, TaskKind, TaskStatus


def _apply(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@action_required("tasks.view")
def my_work(request: HttpRequest) -> HttpResponse:
    work = selectors.my_work(user=request.user)
    return render(request, "tasks/my_work.html", {"work": work})


@action_required("tasks.view")
def task_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "unfinished")
    status = status if status in ("", "unfinished", *TaskStatus.values) else "unfinished"
    kind = request.GET.get("kind", "")
    kind = kind if kind in TaskKind.values else ""
    assignee = request.GET.get("assignee", "").strip()[:150]
    overdue = request.GET.get("overdue") == "1"
    tasks = selectors.task_list(status=status, kind=kind, assignee=assignee, overdue=overdue)
    context = {
        "tasks": tasks[:500],
        "status": status,
        "kind": kind,
        "assignee": assignee,
        "overdue": overdue,
        "statuses": TaskStatus.choices,
        "kinds": TaskKind.choices,
    }
    return render(request, "tasks/task_list.html", context)


@action_required("tasks.create")
def task_create(request: HttpRequest) -> HttpResponse:
    form = TaskForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if (
            data["assignee"] is not None
            and data["assignee"] != request.user
            and not can(request.user, "tasks.assign")
        ):
            form.add_error("assignee", "Only a compliance manager assigns work to others.")
        else:
            try:
                task = services.task_create(
                    title=data["title"],
                    description=data["description"],
                    kind=data["kind"],
                    assignee=data["assignee"],
                    due_on=data["due_on"],
                    actor=request.user,
                    request=request,
                )
            except ValidationError as exc:
                _apply(form, exc)
            else:
                messages.success(request, "Task created.")
                return redirect("tasks:task_detail", pk=task.pk)
    return render(request, "tasks/task_form.html", {"form": form})


def _task(pk: int) -> Task:
    return get_object_or_404(
        Task.objects.select_related(
            "assignee",
            "control",
            "control__framework",
            "evidence_request__engagement",
            "campaign",
            "closed_by",
            "created_by",
        ),
        pk=pk,
    )


def _page(request, task, **forms) -> HttpResponse:
    user = request.user
    context = {
        "task": task,
        "comments": task.comments.select_related("author").prefetch_related("mentions"),
        "attachments": task.attachments.select_related("uploaded_by"),
        "comment_form": forms.get("comment_form") or CommentForm(),
        "attach_form": forms.get("attach_form") or AttachForm(),
        "can_assign": can(user, "tasks.assign") and task.unfinished,
        "can_close": task.status == TaskStatus.OPEN and services.can_close(task, user),
        "can_reopen": task.status != TaskStatus.OPEN and services.can_close(task, user),
        "overdue": task.overdue(),
    }
    if context["can_assign"]:
        context["assign_form"] = forms.get("assign_form") or AssignForm(
            initial={"assignee": task.assignee_id, "due_on": task.due_on}
        )
    context["close_form"] = forms.get("close_form") or CloseForm()
    context["reopen_form"] = forms.get("reopen_form") or ReopenForm()
    return render(request, "tasks/task_detail.html", context)


@action_required("tasks.view")
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _page(request, _task(pk))


@require_POST
@action_required("tasks.assign")
def task_assign(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    form = AssignForm(request.POST)
    if form.is_valid():
        try:
            services.task_assign(
                task=task,
                assignee=form.cleaned_data["assignee"],
                due_on=form.cleaned_data["due_on"],
                actor=request.user,
                request=request,
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "Assignment saved.")
            return redirect("tasks:task_detail", pk=pk)
    return _page(request, task, assign_form=form)


@require_POST
@action_required("tasks.work")
def task_close(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    form = CloseForm(request.POST)
    if form.is_valid():
        try:
            task = services.task_close(
                task=task, actor=request.user, request=request, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            if task.status == TaskStatus.VERIFYING:
                messages.success(request, "Closed. The next collection verifies the fix.")
            else:
                messages.success(request, "Task done.")
            return redirect("tasks:task_detail", pk=pk)
    return _page(request, task, close_form=form)


@require_POST
@action_required("tasks.work")
def task_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    form = ReopenForm(request.POST)
    if form.is_valid() and not services.can_close(task, request.user):
        form.add_error(None, "Only the assignee, its author or a compliance manager can reopen it.")
    elif form.is_valid():
        try:
            services.task_reopen(
                task=task, reason=form.cleaned_data["reason"], actor=request.user, request=request
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "Task reopened.")
            return redirect("tasks:task_detail", pk=pk)
    return _page(request, task, reopen_form=form)


@require_POST
@action_required("tasks.work")
def task_comment(request: HttpRequest, pk: int) -> HttpResponse:
    task = _task(pk)
    form = CommentForm(request.POST)
    if form.is_valid():
        try:
            services.task_comment_add(
                task=task, author=request.user, body=form.cleaned_data["body"], request=request
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            return redirect("tasks:task_detail", pk=pk)
    return _page(request, task, comment_form=form)


@csrf_exempt
@require_POST
@action_required("tasks.work")
def task_attach(request: HttpRequest, pk: int) -> HttpResponse:
    # The size limit is enforced while the body streams (as for manual evidence): the
    # handler goes first, before anything reads request.POST; CSRF is checked right after.
    limit = max_upload_bytes()
    request.upload_handlers.insert(0, LimitedUploadHandler(request, limit=limit))
    return _attach(request, pk, limit)


@csrf_protect
def _attach(request: HttpRequest, pk: int, limit: int) -> HttpResponse:
    task = _task(pk)
    form = AttachForm(request.POST, request.FILES)
    if getattr(request, "upload_too_large", False):
        form = AttachForm({}, {})
        form.is_valid()  # bound and cleaned, so the size error replaces "required"
        form.errors.pop("file", None)
        form.add_error(
            "file", f"The file is larger than the {limit // (1024 * 1024) or 1} MB limit."
        )
        response = _page(request, task, attach_form=form)
        response.status_code = 413
        return response
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            services.task_attachment_add(
                task=task,
                upload=upload,
                file_name=upload.name,
                actor=request.user,
                request=request,
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            messages.success(request, "File attached.")
            return redirect("tasks:task_detail", pk=pk)
    return _page(request, task, attach_form=form)


@require_GET
@action_required("tasks.view")
def attachment_download(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponse:
    attachment = get_object_or_404(TaskAttachment, pk=attachment_pk, task_id=pk)
    try:
        handle = default_storage.open(attachment.path, "rb")
    except FileNotFoundError:
        raise Http404("The file is no longer stored.") from None
    audit_log_record(
        action="task.attachment_downloaded",
        obj=attachment.task,
        request=request,
        file_name=attachment.file_name,
        sha256=attachment.sha256,
    )
    return FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.file_name,
        content_type=attachment.content_type,
    )
