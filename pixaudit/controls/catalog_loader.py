"""Parse and validate a control catalog YAML file (no database access).

A catalog file has a header (``key``, ``name``, ``version``, ``publisher``, ``copyright``) and a
``groups`` tree. Every node has ``id``, ``title``, ``kind`` (group|control|requirement),
``assessable`` and an optional ``description``; a group holds child groups under ``groups`` and
leaves under ``controls``. A child's id is always its parent's id plus one ``.N`` segment
(CC6 -> CC6.1, 6 -> 6.1 -> 6.1.2, A.8 -> A.8.24), and children are ordered by that number.
``category`` and ``theme`` set on a group apply to everything below it.

Every problem raises :class:`CatalogError` with ``<file>:<line>: <problem>``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = ("group", "control", "requirement")
CATEGORIES = ("security", "availability", "confidentiality", "processing_integrity", "privacy")

HEADER_KEYS = {"key", "name", "version", "publisher", "copyright", "groups"}
COMMON_NODE_KEYS = {"id", "title", "description", "kind", "assessable", "category"}
GROUP_KEYS = COMMON_NODE_KEYS | {"theme", "groups", "controls"}
LEAF_KEYS = COMMON_NODE_KEYS | {"coso_principle", "new_in_2022"}
# Keys copied into Control.extra; "theme" is inherited from the enclosing group.
EXTRA_KEYS = ("coso_principle", "theme", "new_in_2022")

FRAMEWORK_KEY_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

_SOC2_SERIES = r"(CC[1-9]|A1|C1|PI1|P[1-8])"


@dataclass(frozen=True)
class IdRule:
    pattern: re.Pattern[str]
    example: str


# Id formats per framework and node kind. A kind missing from a framework's rules is not
# allowed in that framework. Frameworks without rules get GENERIC_RULES.
ID_RULES: dict[str, dict[str, IdRule]] = {
    "soc2-2017": {
        "group": IdRule(re.compile(rf"^{_SOC2_SERIES}$"), "CC6, A1, PI1, P4"),
        "control": IdRule(re.compile(rf"^{_SOC2_SERIES}\.\d+$"), "CC6.1, A1.2, PI1.5, P4.3"),
    },
    "iso27001-2022": {
        "group": IdRule(re.compile(r"^(A\.[5-8]|\d+(\.\d+)?)$"), "A.5, 6, 6.1"),
        "control": IdRule(re.compile(r"^A\.[5-8]\.\d+$"), "A.5.1, A.8.24"),
        "requirement": IdRule(re.compile(r"^\d+(\.\d+){1,2}$"), "4.1, 6.1.2"),
    },
}
_GENERIC = IdRule(re.compile(r"^[A-Za-z0-9]+([.\-][A-Za-z0-9]+)*$"), "AC-1, 3.1.2")
GENERIC_RULES = {kind: _GENERIC for kind in KINDS}


class CatalogError(Exception):
    """A catalog file is malformed or cannot be loaded; ``str()`` is ``file:line: problem``."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file = file
        self.line = line
        self.problem = problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}")


def oscal_id_for(ref: str) -> str:
    """OSCAL ids may not start with a digit: CC6.1 -> cc6.1, A.5.1 -> a.5.1, 4.1 -> cl-4.1."""
    lowered = ref.lower()
    return f"cl-{lowered}" if lowered[:1].isdigit() else lowered


@dataclass(frozen=True)
class CatalogNode:
    ref: str
    title: str
    description: str
    kind: str
    assessable: bool
    category: str
    extra: dict[str, Any]
    parent_ref: str | None
    depth: int
    sort_order: int
    line: int


@dataclass(frozen=True)
class Catalog:
    key: str
    name: str
    version: str
    publisher: str
    copyright: str
    nodes: list[CatalogNode]
    source_sha256: str
    file: str
    lines: dict[str, int] = field(default_factory=dict)  # ref -> line, for error messages


# --- YAML with line numbers ----------------------------------------------------------------


class _Mapping(dict):
    """A dict that remembers where it and each of its keys were written (1-based lines)."""

    line: int = 0
    key_lines: dict[str, int]


class _NodeError(Exception):
    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Mapping:
    loader.flatten_mapping(node)
    mapping = _Mapping()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        key_line = key_node.start_mark.line + 1
        if not isinstance(key, str):
            raise _NodeError(key_line, f"mapping key {key!r} must be a string")
        if key in mapping:
            raise _NodeError(
                key_line, f"duplicate key '{key}' (first at line {mapping.key_lines[key]})"
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_line
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _load_yaml(text: str, file: str) -> Any:
    try:
        return yaml.load(text, Loader=_LineLoader)  # a SafeLoader subclass
    except _NodeError as exc:
        raise CatalogError(file, exc.line, exc.problem) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "malformed YAML"
        raise CatalogError(file, line, f"malformed YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(file, None, f"malformed YAML: {exc}") from None


# --- Validation ----------------------------------------------------------------------------


def parse_catalog(path: str | Path) -> Catalog:
    """Read, parse and validate one catalog file."""
    path = Path(path)
    file = path.name
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(str(path), None, f"cannot read catalog: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogError(file, None, f"not UTF-8 ({exc.reason})") from None
    data = _load_yaml(text, file)
    return _Validator(file).catalog(data, hashlib.sha256(raw).hexdigest())


def _sort_key(ref: str) -> int:
    return int(ref.rsplit(".", 1)[1])


class _Validator:
    def __init__(self, file: str) -> None:
        self.file = file
        self.seen: dict[str, tuple[str, int]] = {}  # ref -> (kind, line)
        self.nodes: list[CatalogNode] = []
        self.rules: dict[str, IdRule] = GENERIC_RULES

    def error(self, line: int | None, problem: str) -> CatalogError:
        return CatalogError(self.file, line, problem)

    def catalog(self, data: Any, sha256: str) -> Catalog:
        if not isinstance(data, _Mapping):
            raise self.error(1, "a catalog must be a mapping with key, name, version, ... groups")
        self._check_keys(data, HEADER_KEYS, "catalog header")
        for name in ("key", "name", "version", "publisher", "copyright"):
            self._string(data, name, data.line, required=True)
        key = data["key"]
        if not FRAMEWORK_KEY_RE.match(key):
            raise self.error(
                data.key_lines["key"], f"framework key '{key}' must be a lowercase slug"
            )
        self.rules = ID_RULES.get(key, GENERIC_RULES)
        groups = self._list(data, "groups", data.line, required=True)
        self._walk(groups, line=data.key_lines["groups"], inherited={})
        return Catalog(
            key=key,
            name=data["name"].strip(),
            version=data["version"].strip(),
            publisher=data["publisher"].strip(),
            copyright=" ".join(data["copyright"].split()),
            nodes=self.nodes,
            source_sha256=sha256,
            file=self.file,
            lines={node.ref: node.line for node in self.nodes},
        )

    # -- helpers

    def _check_keys(self, mapping: _Mapping, allowed: set[str], what: str) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.error(
                    mapping.key_lines[key],
                    f"unknown key '{key}' in {what} (allowed: {', '.join(sorted(allowed))})",
                )

    def _string(self, mapping: _Mapping, name: str, line: int, *, required: bool) -> str:
        if name not in mapping:
            if required:
                raise self.error(line, f"missing required field '{name}'")
            return ""
        value = mapping[name]
        where = mapping.key_lines[name]
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, int | float) else ""
            raise self.error(where, f"'{name}' must be a string, got {value!r}{hint}")
        if required and not value.strip():
            raise self.error(where, f"'{name}' must not be empty")
        return value

    def _list(self, mapping: _Mapping, name: str, line: int, *, required: bool) -> list[Any]:
        if name not in mapping:
            if required:
                raise self.error(line, f"missing required field '{name}'")
            return []
        value = mapping[name]
        if not isinstance(value, list) or not value:
            raise self.error(mapping.key_lines[name], f"'{name}' must be a non-empty list")
        return value

    def _bool(self, mapping: _Mapping, name: str, line: int, *, required: bool) -> bool:
        if name not in mapping:
            if required:
                raise self.error(line, f"missing required field '{name}'")
            return False
        value = mapping[name]
        if not isinstance(value, bool):
            raise self.error(
                mapping.key_lines[name], f"'{name}' must be true or false, got {value!r}"
            )
        return value

    # -- the tree

    def _walk(self, items: list[Any], *, line: int, inherited: dict[str, Any]) -> None:
        """Top level: groups, in file order."""
        for item in items:
            if not isinstance(item, _Mapping):
                raise self.error(line, "each entry of 'groups' must be a mapping")
        for item in items:
            ref, _ = self._check_node(item, "groups", None)
            self._emit(ref, item, parent=None, depth=0, inherited=inherited)

    def _check_node(
        self, item: _Mapping, list_name: str, parent: CatalogNode | None
    ) -> tuple[str, _Mapping]:
        line = item.line
        ref = self._string(item, "id", line, required=True).strip()
        kind = item.get("kind")
        if kind not in KINDS:
            where = item.key_lines.get("kind", line)
            if kind is None:
                raise self.error(where, f"missing required field 'kind' for {ref}")
            raise self.error(where, f"kind of {ref} must be one of {', '.join(KINDS)}")
        if list_name == "groups" and kind != "group":
            raise self.error(line, f"{ref} is a {kind}: list it under 'controls', not 'groups'")
        if list_name == "controls" and kind == "group":
            raise self.error(line, f"{ref} is a group: list it under 'groups', not 'controls'")
        self._check_keys(item, GROUP_KEYS if kind == "group" else LEAF_KEYS, f"{kind} {ref}")
        rule = self.rules.get(kind)
        id_line = item.key_lines["id"]
        if rule is None:
            raise self.error(line, f"kind '{kind}' is not used in this framework ({ref})")
        if not rule.pattern.match(ref):
            raise self.error(
                id_line, f"malformed {kind} id '{ref}' (expected ids like {rule.example})"
            )
        if ref in self.seen:
            raise self.error(
                id_line, f"duplicate {kind} id {ref} (first defined at line {self.seen[ref][1]})"
            )
        self.seen[ref] = (kind, id_line)
        if parent is None:
            if kind != "group":
                raise self.error(line, f"top-level entry {ref} must be a group")
        else:
            prefix, _, last = ref.rpartition(".")
            if prefix != parent.ref or not last.isdigit():
                raise self.error(
                    line,
                    f"{kind} {ref} is under group {parent.ref} but its id does not belong there "
                    f"(children of {parent.ref} are numbered {parent.ref}.1, {parent.ref}.2, ...)",
                )
        return ref, item

    def _emit(
        self,
        ref: str,
        item: _Mapping,
        *,
        parent: CatalogNode | None,
        depth: int,
        inherited: dict[str, Any],
    ) -> None:
        line = item.line
        kind = item["kind"]
        title = self._string(item, "title", line, required=True).strip()
        description = " ".join(self._string(item, "description", line, required=False).split())
        assessable = self._bool(item, "assessable", line, required=True)
        if kind == "group" and assessable:
            raise self.error(item.key_lines["assessable"], f"group {ref} cannot be assessable")
        category = inherited.get("category", "")
        if "category" in item:
            category = self._string(item, "category", line, required=True)
            if category not in CATEGORIES:
                raise self.error(
                    item.key_lines["category"],
                    f"unknown category '{category}' (allowed: {', '.join(CATEGORIES)})",
                )
        extra: dict[str, Any] = {}
        theme = inherited.get("theme")
        if "theme" in item:
            theme = self._string(item, "theme", line, required=True).strip()
        if theme and kind != "group":
            extra["theme"] = theme
        if "coso_principle" in item:
            value = item["coso_principle"]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 17:
                raise self.error(
                    item.key_lines["coso_principle"],
                    f"coso_principle of {ref} must be a number from 1 to 17",
                )
            extra["coso_principle"] = value
        if "new_in_2022" in item:
            extra["new_in_2022"] = self._bool(item, "new_in_2022", line, required=True)
        node = CatalogNode(
            ref=ref,
            title=title,
            description=description,
            kind=kind,
            assessable=assessable,
            category=category,
            extra=extra,
            parent_ref=parent.ref if parent else None,
            depth=depth,
            sort_order=len(self.nodes) + 1,
            line=line,
        )
        self.nodes.append(node)
        if kind != "group":
            return
        groups = self._list(item, "groups", line, required=False)
        controls = self._list(item, "controls", line, required=False)
        if not groups and not controls:
            raise self.error(line, f"group {ref} has no 'groups' or 'controls'")
        passed = {"category": category, "theme": theme or ""}
        # Validate both lists' entries first, then emit every child in number order.
        entries = [self._check_node(i, "groups", node) for i in self._mappings(groups, node)]
        entries += [self._check_node(i, "controls", node) for i in self._mappings(controls, node)]
        entries.sort(key=lambda entry: _sort_key(entry[0]))
        for child_ref, child in entries:
            self._emit(child_ref, child, parent=node, depth=depth + 1, inherited=passed)

    def _mappings(self, items: list[Any], parent: CatalogNode) -> list[_Mapping]:
        for item in items:
            if not isinstance(item, _Mapping):
                raise self.error(parent.line, f"entries under {parent.ref} must be mappings")
        return items
