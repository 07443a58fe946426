"""Parsing and validating catalog YAML (no database)."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import pytest

from pixaudit.controls.catalog_loader import CatalogError, oscal_id_for, parse_catalog
from pixaudit.controls.services import CATALOG_DIR

SOC2 = CATALOG_DIR / "soc2-2017.yaml"
ISO = CATALOG_DIR / "iso27001-2022.yaml"

HEADER = """\
key: soc2-2017
name: "SOC 2"
version: "2017"
publisher: AICPA
copyright: ids and own titles only
groups:
"""


def write(tmp_path: Path, body: str, header: str = HEADER, name: str = "soc2-2017.yaml") -> Path:
    path = tmp_path / name
    path.write_text(header + textwrap.dedent(body), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not found")


# --- the shipped catalogs ------------------------------------------------------------------


def test_soc2_catalog_has_61_criteria_in_20_series():
    catalog = parse_catalog(SOC2)
    assert catalog.key == "soc2-2017"
    assert catalog.name == "SOC 2 — 2017 Trust Services Criteria"
    criteria = [n for n in catalog.nodes if n.kind == "control"]
    groups = [n for n in catalog.nodes if n.kind == "group"]
    assert len(criteria) == 61
    assert all(n.assessable for n in criteria)
    assert not any(n.assessable for n in groups)
    assert [g.ref for g in groups] == [
        *(f"CC{i}" for i in range(1, 10)),
        "A1",
        "C1",
        "PI1",
        *(f"P{i}" for i in range(1, 9)),
    ]
    per_series = Counter(n.parent_ref for n in criteria)
    assert per_series["CC6"] == 8 and per_series["PI1"] == 5 and per_series["P6"] == 7
    assert sum(v for k, v in per_series.items() if k.startswith("CC")) == 33
    categories = Counter(n.category for n in criteria)
    assert categories == {
        "security": 33,
        "availability": 3,
        "confidentiality": 2,
        "processing_integrity": 5,
        "privacy": 18,
    }
    by_ref = {n.ref: n for n in catalog.nodes}
    assert by_ref["CC1.1"].extra == {"coso_principle": 1}
    assert by_ref["CC2.1"].extra == {"coso_principle": 13}
    assert by_ref["CC6.1"].extra == {}
    assert by_ref["CC6.1"].title == "Logical access security software and architecture"
    assert "AICPA" in catalog.copyright


def test_iso_catalog_has_93_annex_a_controls_and_30_clause_requirements():
    catalog = parse_catalog(ISO)
    nodes = {n.ref: n for n in catalog.nodes}
    controls = [n for n in catalog.nodes if n.kind == "control"]
    requirements = [n for n in catalog.nodes if n.kind == "requirement"]
    groups = [n for n in catalog.nodes if n.kind == "group"]
    assert len(controls) == 93
    assert len(requirements) == 30
    assert Counter(n.parent_ref for n in controls) == {"A.5": 37, "A.6": 8, "A.7": 14, "A.8": 34}
    assert {g.ref for g in groups} == {
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
        "6.1",
        "7.5",
        "9.2",
        "9.3",
        "A.5",
        "A.6",
        "A.7",
        "A.8",
    }
    assert nodes["6.1.2"].parent_ref == "6.1" and nodes["6.1"].parent_ref == "6"
    assert nodes["A.8.24"].title == "Use of cryptography"
    assert nodes["A.8.24"].extra == {"theme": "technological"}
    new = sorted(n.ref for n in controls if n.extra.get("new_in_2022"))
    assert len(new) == 11 and "A.5.7" in new and "A.8.28" in new
    # clauses first, then Annex A; children in number order (6.1 before 6.2, A.5.2 before A.5.10)
    refs = [n.ref for n in catalog.nodes]
    assert refs[:2] == ["4", "4.1"] and refs.index("10.2") < refs.index("A.5")
    assert refs.index("6.1.3") < refs.index("6.2")
    assert refs.index("A.5.2") < refs.index("A.5.10")
    assert [n.sort_order for n in catalog.nodes] == list(range(1, len(refs) + 1))


@pytest.mark.parametrize(
    ("ref", "oscal"),
    [
        ("A.5.1", "a.5.1"),
        ("4.1", "cl-4.1"),
        ("6.1.2", "cl-6.1.2"),
        ("CC6.1", "cc6.1"),
        ("PI1", "pi1"),
    ],
)
def test_oscal_ids(ref, oscal):
    assert oscal_id_for(ref) == oscal


# --- rejected input ------------------------------------------------------------------------


def test_duplicate_id_names_both_lines(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: false
        controls:
          - {id: "CC6.1", kind: control, assessable: true, title: "One"}
          - {id: "CC6.2", kind: control, assessable: true, title: "Two"}
          - {id: "CC6.1", kind: control, assessable: true, title: "Again"}
    """,
    )
    first, second = line_of(path, '"CC6.1"'), line_of(path, '"CC6.1"', 2)
    with pytest.raises(CatalogError) as excinfo:
        parse_catalog(path)
    assert str(excinfo.value) == (
        f"soc2-2017.yaml:{second}: duplicate control id CC6.1 (first defined at line {first})"
    )
    assert excinfo.value.line == second


@pytest.mark.parametrize(
    ("bad_id", "kind"), [("CC6-1", "control"), ("CC10.1", "control"), ("X1.1", "control")]
)
def test_malformed_control_id(tmp_path, bad_id, kind):
    path = write(
        tmp_path,
        f"""
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: false
        controls:
          - {{id: "CC6.1", kind: control, assessable: true, title: "One"}}
          - {{id: "{bad_id}", kind: control, assessable: true, title: "Bad"}}
    """,
    )
    with pytest.raises(CatalogError, match=rf"malformed {kind} id '{bad_id}'") as excinfo:
        parse_catalog(path)
    assert str(excinfo.value).startswith(f"soc2-2017.yaml:{line_of(path, bad_id)}: ")


def test_iso_id_formats_are_checked_per_kind(tmp_path):
    header = HEADER.replace("soc2-2017", "iso27001-2022")
    path = write(
        tmp_path,
        """
      - id: "A.8"
        title: "Technological controls"
        kind: group
        assessable: false
        controls:
          - {id: "8.24", kind: control, assessable: true, title: "Use of cryptography"}
    """,
        header=header,
        name="iso.yaml",
    )
    with pytest.raises(CatalogError, match=r"^iso\.yaml:\d+: malformed control id '8.24'"):
        parse_catalog(path)


def test_control_under_the_wrong_group(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: false
        controls:
          - {id: "CC7.1", kind: control, assessable: true, title: "Misplaced"}
    """,
    )
    with pytest.raises(CatalogError) as excinfo:
        parse_catalog(path)
    message = str(excinfo.value)
    assert message.startswith(f"soc2-2017.yaml:{line_of(path, 'CC7.1')}: ")
    assert "control CC7.1 is under group CC6" in message


def test_unknown_key_is_rejected(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: false
        controls:
          - id: "CC6.1"
            kind: control
            assessable: true
            title: "One"
            text: "the AICPA text must never be here"
    """,
    )
    with pytest.raises(CatalogError, match=r"unknown key 'text' in control CC6.1") as excinfo:
        parse_catalog(path)
    assert excinfo.value.line == line_of(path, "text:")


def test_missing_required_field(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: false
        controls:
          - {id: "CC6.1", kind: control, title: "One"}
    """,
    )
    with pytest.raises(CatalogError, match=r":\d+: missing required field 'assessable'"):
        parse_catalog(path)


def test_unquoted_numeric_id_is_rejected(tmp_path):
    header = HEADER.replace("soc2-2017", "iso27001-2022")
    path = write(
        tmp_path,
        """
      - id: 4
        title: "Context"
        kind: group
        assessable: false
        controls:
          - {id: "4.1", kind: requirement, assessable: true, title: "Context"}
    """,
        header=header,
    )
    with pytest.raises(CatalogError, match=r"'id' must be a string, got 4 \(quote it\)"):
        parse_catalog(path)


def test_malformed_yaml_reports_file_and_line(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: false
        controls:
          - {id: "CC6.1", kind: control, assessable: true, title: "unterminated}
          - {id: "CC6.2", kind: control, assessable: true, title: "Two"}
    """,
    )
    with pytest.raises(CatalogError) as excinfo:
        parse_catalog(path)
    assert str(excinfo.value).startswith("soc2-2017.yaml:")
    assert excinfo.value.line is not None and excinfo.value.line >= line_of(path, "unterminated")
    assert "malformed YAML" in str(excinfo.value)


def test_bad_indentation_reports_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("key: soc2-2017\nname: x\n  version: oops\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"^broken\.yaml:3: malformed YAML"):
        parse_catalog(path)


def test_duplicate_mapping_key(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        title: "Again"
        kind: group
        assessable: false
        controls:
          - {id: "CC6.1", kind: control, assessable: true, title: "One"}
    """,
    )
    with pytest.raises(CatalogError, match=r":\d+: duplicate key 'title' \(first at line \d+\)"):
        parse_catalog(path)


def test_group_listed_as_control_and_assessable_group(tmp_path):
    path = write(
        tmp_path,
        """
      - id: "CC6"
        title: "Access"
        kind: group
        assessable: true
        controls:
          - {id: "CC6.1", kind: control, assessable: true, title: "One"}
    """,
    )
    with pytest.raises(CatalogError, match="group CC6 cannot be assessable"):
        parse_catalog(path)
