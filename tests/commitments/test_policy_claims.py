"""Every verifiable line of the published policy has a commitment; manual kinds count."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pixaudit.commitments.policy import POLICY_PATH, Claim, policy_claims, unbacked_claims
from pixaudit.commitments.selectors import commitment_states
from pixaudit.commitments.services import (
    CommitmentsFileError,
    commitments_load,
    commitments_load_builtin,
)
from tests.manual.test_manual_upload import PDF, upload

COMMITMENTS = Path(POLICY_PATH).with_name("data-protection-policy.yaml")


def _entries() -> list[dict]:
    return yaml.safe_load(COMMITMENTS.read_text(encoding="utf-8"))["commitments"]


def test_the_shipped_policy_is_the_published_one() -> None:
    shared = Path(__file__).resolve().parents[3] / "shared" / "reference"
    published = shared / "data-protection-policy.txt"
    if not published.exists():
        pytest.skip("the published policy is not beside this checkout")
    assert POLICY_PATH.read_text(encoding="utf-8") == published.read_text(encoding="utf-8")


def test_claims_are_read_from_every_checked_section() -> None:
    claims = policy_claims()
    sections = {c.section for c in claims}
    assert sections == {
        "Technical Security Measures", "AI Model Data Handling", "Data Subject Rights",
        "Data Breach Response", "Third-Party Data Processors",
        "Contact Our Data Protection Officer"}  # fmt: skip
    texts = [c.text for c in claims]
    assert "TLS 1.3 encryption for all data in transit" in texts
    assert "Right to Erasure" in texts
    assert "Within 30 days for data rights requests" in texts
    assert "Your images are processed in isolated environments" in texts
    assert "Notify us promptly of any security incidents" in texts
    # Principles state intent: not claims to check.
    assert not [t for t in texts if t.startswith("Lawfulness")]


def test_every_verifiable_policy_line_has_a_commitment() -> None:
    missing = unbacked_claims(policy_claims(), _entries())
    assert missing == [], "policy lines without a commitment: " + "; ".join(
        f"{c.section}: {c.text}" for c in missing
    )


def test_a_new_promise_in_the_policy_is_caught() -> None:
    text = POLICY_PATH.read_text(encoding="utf-8").replace(
        "  • AES-256 encryption for data at rest\n",
        "  • AES-256 encryption for data at rest\n  • Hardware security modules for keys\n",
    )
    before = set(unbacked_claims(policy_claims(), _entries()))
    missing = set(unbacked_claims(policy_claims(text), _entries()))
    assert missing - before == {
        Claim("Technical Security Measures", "Hardware security modules for keys")
    }


@pytest.mark.django_db
def test_manual_kinds_only_count_uploads_of_that_kind(media_root, catalogs, users) -> None:
    commitments_load_builtin()

    def state():
        return next(s for s in commitment_states() if s.commitment.key == "isolated-processing")

    assert state().status == "manual_pending"
    # A policy document for the same control does not prove isolation...
    upload(PDF, "policy.pdf", users.manager, kind="policy",
           control_addresses=["iso27001-2022:A.8.22"])  # fmt: skip
    assert state().status == "manual_pending" and state().manual_items == []
    # ...an isolation attestation does.
    attestation = upload(PDF + b"%iso\n", "isolation.pdf", users.manager, kind="isolation",
                         control_addresses=["iso27001-2022:A.8.22"])  # fmt: skip
    current = state()
    assert current.status == "passing" and current.manual_items == [attestation]


@pytest.mark.django_db
def test_unknown_manual_kind_is_refused(catalogs, tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "commitments:\n  - key: x\n    title: X\n    statement: S\n"
        "    controls: ['soc2-2017:CC6.1']\n    requires_manual: true\n"
        "    manual_kinds: [telepathy]\n"
    )
    with pytest.raises(CommitmentsFileError, match="unknown manual evidence kind.*telepathy"):
        commitments_load(path=path)
