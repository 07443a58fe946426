"""Posture pages: framework overview, control list, control detail. Thin: read, render."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from pixaudit.accounts.permissions import action_required, can
from pixaudit.awsorg.selectors import (
    AwsScope,
    account_control_summary,
    aws_scope,
    connection_places,
    current_account_breakdown,
    known_accounts,
    known_ous,
)
from pixaudit.controls import selectors as control_selectors
from pixaudit.controls.models import Control, Framework
from pixaudit.dashboard import charts
from pixaudit.dashboard.forms import OwnerForm, PeriodForm
from pixaudit.dashboard.views_coverage import coverage_window
from pixaudit.evidence.selectors_manual import manual_evidence_for_control
from pixaudit.posture import ownership, selectors
from pixaudit.posture.coverage import control_coverage
from pixaudit.posture.heatmap import heatmap_svg
from pixaudit.posture.selectors import ControlStatus
from pixaudit.tasks import selectors as task_selectors

TREND_DAYS = 90
UNOWNED = "-"  # the owner filter's value for "no owner yet"
HISTORY_DAYS = 90


def _frameworks() -> list[Framework]:
    return list(Framework.objects.order_by("key"))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The overview of the first framework; auditors land on their engagements."""
    if not can(request.user, "posture.view"):
        if can(request.user, "engagements.view"):
            return redirect("audits:engagement_list")
        raise PermissionDenied("posture.view")
    framework = Framework.objects.order_by("key").first()
    if framework is None:
        return render(request, "dashboard/empty.html", {})
    return overview(request, framework.key)


@action_required("posture.view")
def overview(request: HttpRequest, framework_key: str) -> HttpResponse:
    frameworks = _frameworks()
    framework = next((f for f in frameworks if f.key == framework_key), None)
    if framework is None:
        raise Http404(f"No framework {framework_key}")
    scope = _account_scope(request)
    posture = selectors.framework_posture(framework=framework, connections=scope.connections)
    today = posture.computed_at.date()
    snapshots = selectors.readiness_trend(framework=framework, days=TREND_DAYS, today=today)
    points = [(s.day, s.readiness) for s in snapshots]
    if posture.readiness is not None and (not points or points[-1][0] != today):
        points.append((today, posture.readiness))  # today's live value until the snapshot
    top_failing = posture.top_failing(10)
    context = {
        "frameworks": frameworks,
        "framework": framework,
        "posture": posture,
        "trend_svg": charts.trend_svg(
            points, days=TREND_DAYS, end=today, title=f"{framework.name} readiness, 90 days"
        ),
        "status_svg": charts.status_bar_svg(posture.status_rows),
        "top_failing": top_failing,
        "owners": ownership.control_owners(framework=framework),
        "remediation": task_selectors.remediation_by_control(
            control_ids=[c.control.pk for c in top_failing]
        ),
        "overdue_tasks": list(task_selectors.overdue_tasks()[:8]),
        "overdue_count": task_selectors.overdue_tasks().count(),
        "stale_next": posture.stale_next(8),
        "now": posture.computed_at,
        "scope": scope,
        "accounts": known_accounts(),
        "ous": [],
        "by_account": [],
    }
    if context["accounts"]:
        # The same controls judged per AWS account (within the scope), each row a link to
        # the overview filtered to that account.
        context["ous"] = known_ous()
        context["by_account"] = account_control_summary(posture, connections=scope.connections)
        context["by_account_warnings"] = any(a.warning for a in context["by_account"])
    return render(request, "dashboard/overview.html", context)


def _account_scope(request: HttpRequest) -> AwsScope:
    """``?account=<12 digits>`` and/or ``?ou=<OU id>``: judge only the connections
    collecting that AWS account, or the accounts under that OU."""
    return aws_scope(request.GET.get("account", "")[:12], request.GET.get("ou", "")[:80])


def _by_ou(accounts: list) -> list[tuple[str, dict[str, int], int]]:
    """The per-account counts summed per OU path: ``(path, counts, accounts)``."""
    out: dict[str, tuple[dict[str, int], list[str]]] = {}
    for entry in accounts:
        counts, ids = out.setdefault(entry.ou_path or "(no OU)", ({}, []))
        ids.append(entry.account_id)
        for status, n in entry.counts.items():
            counts[status] = counts.get(status, 0) + n
    return [(path, counts, len(ids)) for path, (counts, ids) in sorted(out.items())]


@action_required("posture.view")
def control_list(request: HttpRequest) -> HttpResponse:
    frameworks = _frameworks()
    if not frameworks:
        return render(request, "dashboard/empty.html", {})
    key = request.GET.get("framework", "")[:64]
    framework = next((f for f in frameworks if f.key == key), frameworks[0])
    groups = list(control_selectors.framework_groups(framework=framework))
    group_ref = request.GET.get("group", "").strip()[:32]
    group = next((g for g in groups if g.ref == group_ref), None)
    status = request.GET.get("status", "")
    status = status if status in ControlStatus.values else ""
    q = request.GET.get("q", "").strip()[:200]
    owner = request.GET.get("owner", "").strip()[:150]
    scope = _account_scope(request)
    account, connections = scope.account, scope.connections
    posture = selectors.framework_posture(framework=framework, connections=connections)
    rows = selectors.posture_filter(posture, status=status, group=group, q=q)
    owners = ownership.control_owners(framework=framework)
    if owner == UNOWNED:
        rows = [r for r in rows if r.control.pk not in owners]
    elif owner:
        rows = [r for r in rows if getattr(owners.get(r.control.pk), "username", None) == owner]
    context = {
        "frameworks": frameworks,
        "framework": framework,
        "groups": groups,
        "group_ref": group_ref,
        "statuses": [(s.value, s.label) for s in selectors.STATUS_ORDER],
        "status": status,
        "q": q,
        "rows": [(r, owners.get(r.control.pk)) for r in rows],
        "row_count": len(rows),
        "posture": posture,
        "owner": owner,
        "owner_choices": sorted({u.get_username() for u in owners.values()}),
        "unowned": UNOWNED,
        "filtering": bool(status or group_ref or q or owner or scope.active),
        "account": account,
        "accounts": known_accounts(),
        "scope": scope,
        "ous": [],
    }
    if context["accounts"]:
        context["ous"] = known_ous()
        # Current results of the framework's checks grouped by AWS account and by OU.
        ids = sorted({a for item in posture.controls for a in item.assertion_ids})
        by_account = current_account_breakdown(assertion_ids=ids, connections=connections)
        context.update(by_account=by_account, by_ou=_by_ou(by_account))
    return render(request, "dashboard/control_list.html", context)


@action_required("posture.view")
def control_detail(request: HttpRequest, framework_key: str, ref: str) -> HttpResponse:
    try:
        control = control_selectors.control_get(framework_key=framework_key, ref=ref)
    except Control.DoesNotExist:
        raise Http404(f"No control {ref} in {framework_key}") from None
    if control.is_group:
        query = urlencode({"framework": framework_key, "group": ref})
        return redirect(f"{reverse('dashboard:control_list')}?{query}")
    # The timeline's period is bound only when asked for (the coverage window has its own
    # ``cov-*`` fields on the same page).
    asked = "since" in request.GET or "until" in request.GET  # ?account= alone: the default
    period = PeriodForm(request.GET if asked else None)
    since, until = period.bounds() if period.is_bound else (None, None)
    if not period.is_bound:
        since = timezone.now() - timedelta(days=HISTORY_DAYS)
        period = PeriodForm(initial={"since": since.date()})
    scope = _account_scope(request)
    account, connections = scope.account, scope.connections
    item = selectors.control_posture(control=control, connections=connections)
    catalog = selectors.assertion_catalog()
    # The status and the evidence behind it on one page: automated results per connection,
    # and the manual uploads that support the control (listed and on the timeline).
    timeline = selectors.control_timeline(
        assertion_ids=item.assertion_ids, since=since, until=until, control=control
    )
    manual_items = manual_evidence_for_control(control=control)
    states = {s.assertion_id: s for s in item.states}
    sources = selectors.control_sources(assertion_ids=item.assertion_ids, connections=connections)
    assertions = sorted(
        (
            {"id": a, "info": catalog.get(a, {}), "state": states.get(a), "sources": sources.get(a)}
            for a in item.assertion_ids
        ),
        key=lambda row: (row["state"] is None, row["id"]),  # checks with results first
    )
    failing = selectors.control_results(
        assertion_ids=item.assertion_ids, only_failing=True, connections=connections
    )
    # Which AWS account and region each result is from: the same resource name in two
    # accounts is two rows that say so.
    accounts = known_accounts()
    places = connection_places(r.connection_id for r in failing) if accounts else {}
    for r in failing:
        r.aws_place = places.get(r.connection_id)
    by_account = (
        current_account_breakdown(assertion_ids=item.assertion_ids, connections=connections)
        if accounts
        else []
    )
    strip = [
        (e.status, e.status_label, f"{e.item.collected_at:%Y-%m-%d %H:%M} UTC")
        for e in reversed(timeline)
    ]
    window = coverage_window(request, control.framework)
    coverage = control_coverage(control=control, start=window.start, end=window.end)
    context = {
        "framework": control.framework,
        "control": control,
        "coverage": coverage,
        "coverage_window": window,
        "coverage_svg": mark_safe(  # every text in it is escaped (heatmap module)
            heatmap_svg(days=coverage.days, start=coverage.start, title=f"{control.ref} by day")
        ),
        "item": item,
        "account": account,
        "scope": scope,
        "accounts": accounts,
        "ous": known_ous() if accounts else [],
        "by_account": by_account,
        "by_ou": _by_ou(by_account),
        "assertions": assertions,
        "failing": [(r, catalog.get(r.assertion_id, {})) for r in failing],
        "aws_places": bool(places),
        "timeline": timeline,
        "manual_items": manual_items,
        "current_manual": manual_items[0] if manual_items else None,
        "today": timezone.now().date(),
        "history_svg": charts.status_strip_svg(strip, title=f"{control.ref} status history"),
        "period": period,
        "mappings": control_selectors.control_mapping_rows(control=control),
        "ownership": ownership.control_owner_get(control=control),
        "remediation_task": task_selectors.remediation_by_control(control_ids=[control.pk]).get(
            control.pk
        ),
        "owner_form": OwnerForm(candidates=ownership.owner_candidates())
        if can(request.user, "controls.own")
        else None,
    }
    return render(request, "dashboard/control_detail.html", context)


@require_POST
@action_required("controls.own")
def control_owner(request: HttpRequest, framework_key: str, ref: str) -> HttpResponse:
    """Assign or remove the control's owner (compliance managers and admins)."""
    try:
        control = control_selectors.control_get(framework_key=framework_key, ref=ref)
    except Control.DoesNotExist:
        raise Http404(f"No control {ref} in {framework_key}") from None
    form = OwnerForm(request.POST, candidates=ownership.owner_candidates())
    if form.is_valid():
        try:
            ownership.control_owner_assign(
                control=control, owner=form.cleaned_data["owner"], actor=request.user,
                request=request,
            )  # fmt: skip
        except ownership.OwnershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Owner updated.")
    else:
        messages.error(request, "Choose an owner from the list.")
    return redirect("dashboard:control_detail", framework_key=framework_key, ref=ref)
