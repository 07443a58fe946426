"""check_mappings_sync, mapping overrides and effective mappings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from pixaudit.controls.models import CheckMapping, MappingOverride
from pixaudit.controls.selectors import (
    control_get_by_address,
    control_mapping_rows,
    controls_for_assertion,
    effective_mappings,
)
from pixaudit.controls.services import (
    MappingDeclarationError,
    check_mappings_sync,
    mapping_override_create,
)

pytestmark = pytest.mark.django_db

ENC = "aws_s3_buckets.default_encryption"
MFA = "okta_users.mfa_enrolled"

DECLARATIONS = [
    (ENC, "soc2-2017:CC6.1", "Encryption at rest protects stored data", "builtin"),
    (ENC, "iso27001-2022:A.8.24", "Use of cryptography", "builtin"),
    (MFA, "soc2-2017:CC6.1", "MFA protects logical access", "builtin"),
    (MFA, "iso27001-2022:A.8.5", "Secure authentication", "builtin"),
]


def addr(address):
    return control_get_by_address(address)


def pairs():
    return {
        (m.assertion_id, m.control.address, m.source)
        for m in CheckMapping.objects.select_related("control__framework")
    }


def test_sync_creates_then_is_idempotent(catalogs):
    result = check_mappings_sync(declarations=DECLARATIONS)
    assert (result.created, result.updated, result.unchanged, result.deleted) == (4, 0, 0, 0)
    assert len(pairs()) == 4
    result = check_mappings_sync(declarations=DECLARATIONS)
    assert (result.created, result.updated, result.unchanged, result.deleted) == (0, 0, 4, 0)


def test_sync_updates_rationale_and_removes_stale_builtin_rows(catalogs):
    check_mappings_sync(
        declarations=[
            *DECLARATIONS,
            ("plugin_thing.check", "soc2-2017:CC7.2", "from a plugin", "plugin"),
        ]
    )
    result = check_mappings_sync(
        declarations=[
            (ENC, "soc2-2017:CC6.1", "Encryption at rest (reworded)", "builtin"),
            (MFA, "iso27001-2022:A.8.5", "Secure authentication", "builtin"),
        ]
    )
    assert (result.created, result.updated, result.unchanged, result.deleted) == (0, 1, 1, 2)
    assert pairs() == {
        (ENC, "soc2-2017:CC6.1", "builtin"),
        (MFA, "iso27001-2022:A.8.5", "builtin"),
        ("plugin_thing.check", "soc2-2017:CC7.2", "plugin"),  # plugin rows are not "stale"
    }
    assert CheckMapping.objects.get(control=addr("soc2-2017:CC6.1")).rationale == (
        "Encryption at rest (reworded)"
    )


def test_sync_names_unknown_addresses_and_writes_nothing(catalogs):
    with pytest.raises(MappingDeclarationError) as excinfo:
        check_mappings_sync(
            declarations=[
                *DECLARATIONS,
                (ENC, "soc2-2017:CC6.99", "typo", "builtin"),
                (ENC, "iso27001-2022:8.24", "missing the A. prefix", "builtin"),
                (ENC, "CC6.1", "no framework", "builtin"),
            ]
        )
    message = str(excinfo.value)
    assert "soc2-2017:CC6.99" in message
    assert "iso27001-2022:8.24" in message
    assert "CC6.1" in message
    assert not CheckMapping.objects.exists()


def test_sync_rejects_groups_bad_source_and_empty_rationale(catalogs):
    with pytest.raises(MappingDeclarationError, match="not assessable: soc2-2017:CC6"):
        check_mappings_sync(declarations=[(ENC, "soc2-2017:CC6", "a group", "builtin")])
    with pytest.raises(MappingDeclarationError, match="unknown source 'vendor'"):
        check_mappings_sync(declarations=[(ENC, "soc2-2017:CC6.1", "why", "vendor")])
    with pytest.raises(MappingDeclarationError, match="a rationale is required"):
        check_mappings_sync(declarations=[(ENC, "soc2-2017:CC6.1", "  ", "builtin")])


@pytest.fixture
def mapped(catalogs):
    check_mappings_sync(declarations=DECLARATIONS)


def test_override_requires_a_reason(mapped, user):
    with pytest.raises(ValidationError) as excinfo:
        mapping_override_create(
            assertion_id=ENC,
            control=addr("soc2-2017:CC6.1"),
            action="remove",
            reason="   ",
            user=user,
        )
    assert "reason" in excinfo.value.message_dict
    assert not MappingOverride.objects.exists()


def test_remove_must_target_an_existing_mapping(mapped, user):
    with pytest.raises(ValidationError, match="no mapping .* to remove"):
        mapping_override_create(
            assertion_id=ENC,
            control=addr("soc2-2017:CC7.2"),
            action="remove",
            reason="never mapped",
            user=user,
        )


def test_add_must_not_duplicate_an_existing_mapping(mapped, user):
    with pytest.raises(ValidationError, match="already exists: a collector declares it"):
        mapping_override_create(
            assertion_id=ENC,
            control=addr("soc2-2017:CC6.1"),
            action="add",
            reason="dup",
            user=user,
        )


def test_other_validation_errors(mapped, user):
    with pytest.raises(ValidationError) as excinfo:
        mapping_override_create(
            assertion_id="Not An Id",
            control=addr("soc2-2017:CC6"),
            action="toggle",
            reason="x",
            user=user,
        )
    assert set(excinfo.value.message_dict) == {"assertion_id", "control", "action"}


def test_effective_mappings_apply_overrides(mapped, user):
    cc61, cc67, a824 = (
        addr("soc2-2017:CC6.1"),
        addr("soc2-2017:CC6.7"),
        addr("iso27001-2022:A.8.24"),
    )
    mapping_override_create(
        assertion_id=ENC,
        control=cc61,
        action="remove",
        reason="Covered by KMS policy evidence instead",
        user=user,
    )
    mapping_override_create(
        assertion_id=ENC,
        control=cc67,
        action="add",
        reason="Our buckets hold data in transit between services",
        user=None,
    )
    effective = effective_mappings()
    assert effective[ENC] == {a824.pk, cc67.pk}
    assert effective[MFA] == {cc61.pk, addr("iso27001-2022:A.8.5").pk}
    assert effective_mappings(framework="soc2-2017")[ENC] == {cc67.pk}
    assert list(controls_for_assertion(ENC)) == [a824, cc67]

    # Removing twice is refused; adding back restores it (latest override wins).
    with pytest.raises(ValidationError, match="already removed"):
        mapping_override_create(
            assertion_id=ENC, control=cc61, action="remove", reason="again", user=user
        )
    mapping_override_create(
        assertion_id=ENC, control=cc61, action="add", reason="KMS evidence retired", user=user
    )
    assert effective_mappings()[ENC] == {a824.pk, cc61.pk, cc67.pk}


def test_latest_override_wins_by_time(mapped, user):
    cc61 = addr("soc2-2017:CC6.1")
    now = timezone.now()
    MappingOverride.objects.create(
        assertion_id=ENC, control=cc61, action="add", reason="later", created_at=now
    )
    MappingOverride.objects.create(
        assertion_id=ENC,
        control=cc61,
        action="remove",
        reason="earlier",
        created_at=now - timedelta(days=1),
    )
    assert cc61.pk in effective_mappings()[ENC]


def test_effective_mappings_query_count(mapped, user, django_assert_num_queries):
    for i in range(20):
        mapping_override_create(
            assertion_id=f"extra_check.n{i}",
            control=addr("soc2-2017:CC7.2"),
            action="add",
            reason="local decision",
            user=user,
        )
    with django_assert_num_queries(2):
        effective_mappings()
    with django_assert_num_queries(2):
        effective_mappings(framework="iso27001-2022")


def test_control_mapping_rows_show_overrides(mapped, user):
    cc61 = addr("soc2-2017:CC6.1")
    mapping_override_create(
        assertion_id=ENC, control=cc61, action="remove", reason="Not our risk", user=user
    )
    rows = {row.assertion_id: row for row in control_mapping_rows(control=cc61)}
    assert rows[MFA].effective and rows[MFA].source == "builtin" and not rows[MFA].overrides
    assert not rows[ENC].effective
    assert rows[ENC].latest_override.reason == "Not our risk"
    assert rows[ENC].latest_override.created_by == user
