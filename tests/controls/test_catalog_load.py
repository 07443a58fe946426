"""Loading catalogs into the database: counts, addresses, idempotence, removal protection."""

from __future__ import annotations

import contextlib
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, ManagementUtility, call_command

from pixaudit.controls.catalog_loader import CatalogError
from pixaudit.controls.models import CheckMapping, Control, Framework, MappingOverride
from pixaudit.controls.selectors import control_get_by_address
from pixaudit.controls.services import (
    CATALOG_DIR,
    catalog_load,
    catalogs_load_builtin,
    check_mappings_sync,
)

pytestmark = pytest.mark.django_db


def test_counts_after_loading(catalogs):
    assert set(catalogs) == {"soc2-2017", "iso27001-2022"}
    soc2 = Control.objects.filter(framework=catalogs["soc2-2017"])
    iso = Control.objects.filter(framework=catalogs["iso27001-2022"])
    assert soc2.filter(assessable=True).count() == 61
    assert soc2.filter(kind="group").count() == 20
    assert iso.filter(kind="control").count() == 93
    assert iso.filter(kind="requirement").count() == 30
    assert set(iso.filter(kind="group", parent=None).values_list("ref", flat=True)) == {
        "4",
        "5",
        "6",
        "7",
        "8",
        "9",
        "10",
        "A.5",
        "A.6",
        "A.7",
        "A.8",
    }
    assert set(iso.filter(kind="group").exclude(parent=None).values_list("ref", flat=True)) == {
        "6.1",
        "7.5",
        "9.2",
        "9.3",
    }
    framework = catalogs["soc2-2017"]
    assert framework.name == "SOC 2 — 2017 Trust Services Criteria"
    assert len(framework.source_sha256) == 64 and framework.publisher == "AICPA"


@pytest.mark.parametrize(
    ("address", "title", "parent"),
    [
        ("soc2-2017:CC6.1", "Logical access security software and architecture", "CC6"),
        ("soc2-2017:P6.7", "Accounting of held and disclosed information", "P6"),
        ("iso27001-2022:A.8.24", "Use of cryptography", "A.8"),
        ("iso27001-2022:6.1.2", "Information security risk assessment", "6.1"),
        ("iso27001-2022:10.2", "Nonconformity and corrective action", "10"),
    ],
)
def test_addresses_resolve(catalogs, address, title, parent):
    control = control_get_by_address(address)
    assert control.address == address
    assert control.title == title
    assert control.parent.ref == parent


def test_control_fields(catalogs):
    cc11 = control_get_by_address("soc2-2017:CC1.1")
    assert (cc11.kind, cc11.category, cc11.extra) == ("control", "security", {"coso_principle": 1})
    a57 = control_get_by_address("iso27001-2022:A.5.7")
    assert a57.extra == {"theme": "organizational", "new_in_2022": True}
    assert a57.oscal_id == "a.5.7"
    assert control_get_by_address("iso27001-2022:4.1").oscal_id == "cl-4.1"


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("CC6.1", "invalid control address 'CC6.1'"),
        ("soc2-2017 CC6.1", "invalid control address"),
        ("soc2-2017:CC6.99", "'soc2-2017' has no 'CC6.99'"),
        ("nist-800-53:AC-1", "framework 'nist-800-53' is not loaded"),
    ],
)
def test_bad_addresses(catalogs, address, message):
    with pytest.raises(Control.DoesNotExist, match=message):
        control_get_by_address(address)


def test_second_load_changes_nothing(catalogs, django_assert_max_num_queries):
    before = {f.key: (f.loaded_at, f.source_sha256) for f in Framework.objects.all()}
    rows_before = list(Control.objects.order_by("pk").values())
    with django_assert_max_num_queries(12):
        results = catalogs_load_builtin()
    assert [(r.created, r.updated, r.removed) for r in results] == [(0, 0, 0), (0, 0, 0)]
    assert sorted(r.unchanged for r in results) == [81, 138]
    assert {f.key: (f.loaded_at, f.source_sha256) for f in Framework.objects.all()} == before
    assert list(Control.objects.order_by("pk").values()) == rows_before


def test_first_load_counts(db):
    result = catalog_load(path=CATALOG_DIR / "soc2-2017.yaml")
    assert (result.framework, result.created, result.updated, result.unchanged, result.removed) == (
        "soc2-2017",
        81,
        0,
        0,
        0,
    )


def _edited_copy(tmp_path, old: str, new: str):
    path = tmp_path / "soc2-2017.yaml"
    text = (CATALOG_DIR / "soc2-2017.yaml").read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_changed_title_updates_one_row(catalogs, tmp_path):
    path = _edited_copy(
        tmp_path, '"Preventing or detecting malicious software"', '"Malware prevention"'
    )
    result = catalog_load(path=path)
    assert (result.created, result.updated, result.removed) == (0, 1, 0)
    assert control_get_by_address("soc2-2017:CC6.8").title == "Malware prevention"
    reloaded = Framework.objects.get(key="soc2-2017")
    assert reloaded.source_sha256 != catalogs["soc2-2017"].source_sha256


def test_removed_control_is_deleted_when_unreferenced(catalogs, tmp_path):
    line = (
        '      - {id: "CC6.8", kind: control, assessable: true, title: '
        '"Preventing or detecting malicious software"}\n'
    )
    path = _edited_copy(tmp_path, line, "")
    result = catalog_load(path=path)
    assert result.removed == 1
    assert not Control.objects.filter(framework__key="soc2-2017", ref="CC6.8").exists()


def test_removal_is_refused_while_mappings_refer_to_the_control(catalogs, tmp_path, user):
    check_mappings_sync(
        declarations=[
            ("aws_guardduty.enabled", "soc2-2017:CC6.8", "malware detection", "builtin"),
        ]
    )
    line = (
        '      - {id: "CC6.8", kind: control, assessable: true, title: '
        '"Preventing or detecting malicious software"}\n'
    )
    path = _edited_copy(tmp_path, line, "")
    refused = r"cannot remove 1 control\(s\).*CC6\.8 \(1 check mapping"
    with pytest.raises(CatalogError, match=refused):
        catalog_load(path=path)
    assert Control.objects.filter(framework__key="soc2-2017", ref="CC6.8").exists()

    MappingOverride.objects.create(
        assertion_id="aws_guardduty.enabled",
        control=control_get_by_address("soc2-2017:CC6.8"),
        action="remove",
        reason="not relevant",
        created_by=user,
    )
    CheckMapping.objects.all().delete()
    with pytest.raises(CatalogError, match=r"CC6\.8 \(1 mapping override"):
        catalog_load(path=path)


def test_removal_is_refused_while_history_names_the_control(catalogs, tmp_path, user):
    """Applicability decisions are append-only history: the control they name stays."""
    from pixaudit.posture.services import applicability_decide

    applicability_decide(control=control_get_by_address("soc2-2017:CC6.8"), applicable=False,
                         justification="No endpoints", user=user)  # fmt: skip
    line = (
        '      - {id: "CC6.8", kind: control, assessable: true, title: '
        '"Preventing or detecting malicious software"}\n'
    )
    with pytest.raises(CatalogError, match=r"CC6\.8 \(1 applicability decision"):
        catalog_load(path=_edited_copy(tmp_path, line, ""))
    assert Control.objects.filter(framework__key="soc2-2017", ref="CC6.8").exists()


def test_load_catalogs_command(db):
    out = StringIO()
    call_command("load_catalogs", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == [
        "iso27001-2022: 138 created, 0 updated, 0 unchanged, 0 removed",
        "soc2-2017: 81 created, 0 updated, 0 unchanged, 0 removed",
    ]
    # The installed collectors' mappings are stored with the shipped catalogs.
    assert lines[2].startswith("check mappings: ") and CheckMapping.objects.exists()
    out = StringIO()
    call_command("load_catalogs", str(CATALOG_DIR / "soc2-2017.yaml"), stdout=out)
    assert out.getvalue() == "soc2-2017: 0 created, 0 updated, 81 unchanged, 0 removed\n"


def test_load_catalogs_command_fails_on_bad_input_and_writes_nothing(db, tmp_path):
    good = tmp_path / "soc2-2017.yaml"
    shutil.copy(CATALOG_DIR / "soc2-2017.yaml", good)
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: [unclosed\n", encoding="utf-8")
    with pytest.raises(CommandError, match=r"^bad\.yaml:\d+: malformed YAML"):
        call_command("load_catalogs", str(good), str(bad))
    assert not Framework.objects.exists()


def test_load_catalogs_command_exit_status(db, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: [unclosed\n", encoding="utf-8")
    err = StringIO()
    utility = ManagementUtility(["manage.py", "load_catalogs", str(bad)])
    with pytest.raises(SystemExit) as excinfo, contextlib.redirect_stderr(err):
        utility.execute()
    assert excinfo.value.code != 0
    assert "bad.yaml:" in err.getvalue()
