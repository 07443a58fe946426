"""Server-rendered catalog pages. Thin: each view reads through selectors and renders."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from pixaudit.accounts.permissions import INTERNAL, role_required
from pixaudit.controls import selectors
from pixaudit.controls.models import Control, Framework


@role_required(INTERNAL)
def framework_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "controls/framework_list.html", {"frameworks": selectors.framework_list()}
    )


@role_required(INTERNAL)
def framework_detail(request: HttpRequest, framework_key: str) -> HttpResponse:
    framework = get_object_or_404(Framework, key=framework_key)
    q = request.GET.get("q", "").strip()[:200]
    group_ref = request.GET.get("group", "").strip()[:32]
    groups = list(selectors.framework_groups(framework=framework))
    group = next((g for g in groups if g.ref == group_ref), None)
    filtering = bool(q or group_ref)
    matches: list[Control] = []
    if filtering:
        matches = list(selectors.control_search(framework=framework, q=q, group=group or group_ref))
        tree = selectors.framework_tree(framework=framework, only={c.pk for c in matches})
    else:
        tree = selectors.framework_tree(framework=framework)
    context = {
        "framework": framework,
        "tree": tree,
        "groups": groups,
        "q": q,
        "group_ref": group_ref,
        "group": group,
        "unknown_group": bool(group_ref) and group is None,
        "filtering": filtering,
        "match_count": len(matches),
    }
    return render(request, "controls/framework_detail.html", context)


@role_required(INTERNAL)
def control_detail(request: HttpRequest, framework_key: str, ref: str) -> HttpResponse:
    try:
        control = selectors.control_get(framework_key=framework_key, ref=ref)
    except Control.DoesNotExist:
        raise Http404(f"No control {ref} in {framework_key}") from None
    context = {
        "framework": control.framework,
        "control": control,
        "children": selectors.control_children(control=control) if control.is_group else [],
        "mappings": selectors.control_mapping_rows(control=control),
    }
    return render(request, "controls/control_detail.html", context)
