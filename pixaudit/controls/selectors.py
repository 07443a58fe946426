"""Reads for the controls app. Every selector runs a constant number of queries."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q, QuerySet

from pixaudit.controls.models import CheckMapping, Control, Framework, MappingOverride

ADDRESS_RE = re.compile(r"^(?P<key>[a-z0-9]+(?:-[a-z0-9]+)*):(?P<ref>[A-Za-z0-9][A-Za-z0-9.\-]*)$")


# --- Addresses -----------------------------------------------------------------------------


def parse_control_address(address: str) -> tuple[str, str]:
    """``"soc2-2017:CC6.1"`` -> ``("soc2-2017", "CC6.1")``; ValueError for anything else."""
    match = ADDRESS_RE.match(address.strip()) if isinstance(address, str) else None
    if match is None:
        raise ValueError(
            f"invalid control address {address!r}: expected '<framework>:<ref>', "
            "e.g. 'soc2-2017:CC6.1' or 'iso27001-2022:A.8.24'"
        )
    return match["key"], match["ref"]


def control_get_by_address(address: str) -> Control:
    """The control at ``"<framework key>:<ref>"``; Control.DoesNotExist says what is wrong."""
    try:
        key, ref = parse_control_address(address)
    except ValueError as exc:
        raise Control.DoesNotExist(str(exc)) from None
    try:
        return Control.objects.select_related("framework", "parent").get(
            framework__key=key, ref=ref
        )
    except Control.DoesNotExist:
        if not Framework.objects.filter(key=key).exists():
            raise Control.DoesNotExist(
                f"no control {address!r}: framework '{key}' is not loaded"
            ) from None
        raise Control.DoesNotExist(f"no control {address!r}: '{key}' has no '{ref}'") from None


# --- Frameworks and trees ------------------------------------------------------------------


def framework_list() -> QuerySet[Framework]:
    """Frameworks annotated with ``group_count`` and ``assessable_count``."""
    return Framework.objects.annotate(
        group_count=Count("controls", filter=Q(controls__kind=Control.Kind.GROUP)),
        assessable_count=Count("controls", filter=Q(controls__assessable=True)),
    ).order_by("key")


@dataclass
class TreeNode:
    control: Control
    children: list[TreeNode] = field(default_factory=list)

    @property
    def control_count(self) -> int:
        """Non-group nodes below this one (after any pruning)."""
        return sum(child.control_count if child.control.is_group else 1 for child in self.children)


def framework_tree(*, framework: Framework, only: set[int] | None = None) -> list[TreeNode]:
    """The framework's nodes as a forest in catalog order (one query).

    With ``only`` (control ids), the tree is pruned to those controls and their ancestors.
    """
    controls = list(Control.objects.filter(framework=framework).order_by("sort_order"))
    nodes = {control.pk: TreeNode(control) for control in controls}
    keep: set[int] | None = None
    if only is not None:
        keep = set()
        for pk in only:
            while pk is not None and pk in nodes and pk not in keep:
                keep.add(pk)
                pk = nodes[pk].control.parent_id
    roots: list[TreeNode] = []
    for control in controls:
        if keep is not None and control.pk not in keep:
            continue
        node = nodes[control.pk]
        if control.parent_id is None:
            roots.append(node)
        else:
            parent = nodes[control.parent_id]
            control.parent = parent.control  # spare a query when templates read .parent
            parent.children.append(node)
    return roots


def framework_groups(*, framework: Framework) -> QuerySet[Control]:
    """The framework's groups in catalog order (for filters)."""
    return Control.objects.filter(framework=framework, kind=Control.Kind.GROUP).order_by(
        "sort_order"
    )


def control_search(
    *, framework: Framework, q: str = "", group: Control | str | None = None
) -> QuerySet[Control]:
    """Non-group nodes whose ref, title or description match ``q``, under ``group`` if given.

    ``group`` is a group Control or its ref; descendants are found by ref prefix (the loader
    guarantees a child's ref extends its parent's: CC6 -> CC6.1, 6 -> 6.1 -> 6.1.2).
    """
    qs = (
        Control.objects.filter(framework=framework)
        .exclude(kind=Control.Kind.GROUP)
        .select_related("parent")
        .order_by("sort_order")
    )
    if group:
        ref = group.ref if isinstance(group, Control) else str(group)
        qs = qs.filter(ref__startswith=f"{ref}.")
    for term in (q or "").split():
        qs = qs.filter(
            Q(ref__icontains=term) | Q(title__icontains=term) | Q(description__icontains=term)
        )
    return qs


def control_get(*, framework_key: str, ref: str) -> Control:
    return Control.objects.select_related("framework", "parent").get(
        framework__key=framework_key, ref=ref
    )


def control_children(*, control: Control) -> QuerySet[Control]:
    return control.children.order_by("sort_order")


# --- Mappings ------------------------------------------------------------------------------


def _latest_overrides(
    qs: QuerySet[MappingOverride],
) -> dict[tuple[str, int], str]:
    """(assertion_id, control_id) -> action of the latest override (one query)."""
    latest: dict[tuple[str, int], str] = {}
    rows = qs.order_by("created_at", "id").values_list("assertion_id", "control_id", "action")
    for assertion_id, control_id, action in rows:
        latest[(assertion_id, control_id)] = action
    return latest


def _framework_filter(framework: Framework | str | None) -> Q:
    if framework is None:
        return Q()
    if isinstance(framework, Framework):
        return Q(control__framework=framework)
    return Q(control__framework__key=framework)


def effective_mappings(*, framework: Framework | str | None = None) -> dict[str, set[int]]:
    """assertion_id -> ids of the controls it counts for, after overrides (two queries).

    The declared CheckMappings, with each (assertion, control) pair's latest override applied:
    "add" maps it even if no collector declares it, "remove" unmaps it.
    """
    where = _framework_filter(framework)
    pairs = set(CheckMapping.objects.filter(where).values_list("assertion_id", "control_id"))
    for pair, action in _latest_overrides(MappingOverride.objects.filter(where)).items():
        if action == MappingOverride.Action.ADD:
            pairs.add(pair)
        else:
            pairs.discard(pair)
    result: dict[str, set[int]] = defaultdict(set)
    for assertion_id, control_id in pairs:
        result[assertion_id].add(control_id)
    return dict(result)


def controls_for_assertion(assertion_id: str) -> QuerySet[Control]:
    """The controls an assertion counts for, after overrides, in framework/catalog order."""
    pairs = set(
        CheckMapping.objects.filter(assertion_id=assertion_id).values_list("control_id", flat=True)
    )
    latest = _latest_overrides(MappingOverride.objects.filter(assertion_id=assertion_id))
    for (_, control_id), action in latest.items():
        if action == MappingOverride.Action.ADD:
            pairs.add(control_id)
        else:
            pairs.discard(control_id)
    return (
        Control.objects.filter(pk__in=pairs)
        .select_related("framework")
        .order_by("framework__key", "sort_order")
    )


@dataclass(frozen=True)
class PairState:
    mapped: bool  # a collector declares it (a CheckMapping exists)
    latest_override: MappingOverride | None

    @property
    def effective(self) -> bool:
        if self.latest_override is not None:
            return self.latest_override.action == MappingOverride.Action.ADD
        return self.mapped


def mapping_pair_state(*, assertion_id: str, control: Control) -> PairState:
    mapped = CheckMapping.objects.filter(assertion_id=assertion_id, control=control).exists()
    latest = (
        MappingOverride.objects.filter(assertion_id=assertion_id, control=control)
        .order_by("-created_at", "-id")
        .first()
    )
    return PairState(mapped=mapped, latest_override=latest)


@dataclass(frozen=True)
class MappingRow:
    """One assertion as seen from a control's page."""

    assertion_id: str
    effective: bool
    rationale: str
    source: str  # "builtin", "plugin" or "override"
    overrides: list[MappingOverride]  # newest first

    @property
    def latest_override(self) -> MappingOverride | None:
        return self.overrides[0] if self.overrides else None

    @property
    def changed_at(self) -> datetime | None:
        return self.overrides[0].created_at if self.overrides else None


def control_mapping_rows(*, control: Control) -> list[MappingRow]:
    """Every assertion declared for or overridden on a control (two queries).

    Rows are effective mappings first, then mappings removed by an override; each carries its
    override history (reason, author, date), newest first.
    """
    declared = {row.assertion_id: row for row in CheckMapping.objects.filter(control=control)}
    history: dict[str, list[MappingOverride]] = defaultdict(list)
    overrides = (
        MappingOverride.objects.filter(control=control)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )
    for override in overrides:
        history[override.assertion_id].append(override)
    rows = []
    for assertion_id in sorted(set(declared) | set(history)):
        mapping = declared.get(assertion_id)
        overrides_for = history.get(assertion_id, [])
        if overrides_for:
            effective = overrides_for[0].action == MappingOverride.Action.ADD
        else:
            effective = mapping is not None
        if mapping is not None:
            rationale, source = mapping.rationale, mapping.source
        else:
            added = next((o for o in overrides_for if o.action == MappingOverride.Action.ADD), None)
            rationale, source = (added.reason if added else ""), "override"
        rows.append(
            MappingRow(
                assertion_id=assertion_id,
                effective=effective,
                rationale=rationale,
                source=source,
                overrides=overrides_for,
            )
        )
    rows.sort(key=lambda row: (not row.effective, row.assertion_id))
    return rows


def control_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Assessable controls as grouped ``<select>`` choices: one group per framework.

    Each choice is ``(address, "CC6.1 · title")``, in catalog order (one query).
    """
    controls = (
        Control.objects.filter(assessable=True)
        .exclude(kind=Control.Kind.GROUP)
        .select_related("framework")
        .order_by("framework__key", "sort_order")
    )
    groups: dict[str, list[tuple[str, str]]] = {}
    for control in controls:
        title = control.title if len(control.title) <= 90 else control.title[:89] + "…"
        groups.setdefault(control.framework.name, []).append(
            (control.address, f"{control.ref} · {title}")
        )
    return list(groups.items())
