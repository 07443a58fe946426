"""The manual-evidence form as a new user met it (issue 12): required fields said, a control
picker, and a chosen file that survives a form error without anything half-stored."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pixaudit.evidence.models import EvidenceItem, ManualEvidence
from tests.reviews.fixtures import client_for

from .test_manual_upload import PDF, stored_files

pytestmark = pytest.mark.django_db

URL = "manualevidence:upload"


def fields(**overrides) -> dict:
    data = {
        "title": "Penetration test 2026",
        "kind": "pentest",
        "effective_on": date.today().isoformat(),
        "recurrence": "yearly",
        "controls": "soc2-2017:CC4.1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def held_files(media_root) -> list[str]:
    base = media_root / "uploads-held"
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def test_required_fields_are_marked_and_validity_is_explained(media_root, catalogs, users):
    html = client_for(users.manager).get(reverse(URL)).content.decode()
    assert "Fields marked" in html and "are required" in html
    validity = html[html.index("<legend>Validity") :]
    validity = validity[: validity.index("</fieldset>")]
    assert "(required)" in validity
    assert "a valid-until date, a recurrence, or both" in validity
    assert "The last day this proof counts" in validity
    assert re.search(r'<label for="id_title">Title <span class="req"', html)
    assert re.search(r'<label for="id_file">File <span class="req"', html)


def test_missing_validity_is_a_field_error_not_a_surprise(media_root, catalogs, users):
    response = client_for(users.manager).post(
        reverse(URL), fields(recurrence=None, file=SimpleUploadedFile("r.pdf", PDF))
    )
    assert response.status_code == 400
    assert response.context["form"].errors["valid_until"] == [
        "Give a valid-until date or choose a recurrence."
    ]
    assert not ManualEvidence.objects.exists()


def test_controls_picker_offers_catalog_controls_with_titles(media_root, catalogs, users):
    html = client_for(users.manager).get(reverse(URL)).content.decode()
    picker = html[html.index('name="controls_picked"') :]
    picker = picker[: picker.index("</select>")]
    assert "multiple" in html[html.index('<select name="controls_picked"') :][:120]
    assert '<optgroup label="SOC 2' in picker and '<optgroup label="ISO/IEC 27001:2022">' in picker
    assert re.search(r'<option value="soc2-2017:CC1\.1">CC1\.1 · [^<]{10,}</option>', picker)
    assert 'value="iso27001-2022:A.5.1"' in picker
    assert 'value="soc2-2017:CC1"' not in picker  # groups are not offered


def test_picked_and_typed_controls_are_both_accepted(media_root, catalogs, users):
    client = client_for(users.manager)
    data = fields(controls="iso27001-2022:A.8.8", file=SimpleUploadedFile("r.pdf", PDF))
    data["controls_picked"] = ["soc2-2017:CC1.1", "soc2-2017:CC4.1"]
    assert client.post(reverse(URL), data).status_code == 302
    item = ManualEvidence.objects.get()
    assert sorted(item.control_addresses) == [
        "iso27001-2022:A.8.8", "soc2-2017:CC1.1", "soc2-2017:CC4.1",
    ]  # fmt: skip
    only_picked = fields(controls=None, file=SimpleUploadedFile("r2.pdf", PDF))
    only_picked["controls_picked"] = ["soc2-2017:CC1.1"]
    assert client.post(reverse(URL), only_picked).status_code == 302
    nothing = client.post(reverse(URL), fields(controls="", file=SimpleUploadedFile("r.pdf", PDF)))
    assert nothing.status_code == 400
    assert "Pick or type at least one control." in nothing.context["form"].errors["controls_picked"]


def test_a_form_error_keeps_the_chosen_file_and_the_next_submit_uses_it(
    media_root, catalogs, users
):
    client = client_for(users.manager)
    first = client.post(
        reverse(URL), fields(title="", file=SimpleUploadedFile("Pentest Report.pdf", PDF))
    )
    assert first.status_code == 400 and "title" in first.context["form"].errors
    html = first.content.decode()
    assert "File kept: <strong>Pentest_Report.pdf</strong>" in html
    assert "you do not need to choose it again" in html
    token = first.context["held"].token
    assert f'name="held" value="{token}"' in html
    # Nothing is evidence yet: no item, no chained file, only the held copy.
    assert not EvidenceItem.objects.exists() and stored_files(media_root) == []
    assert len(held_files(media_root)) == 1

    # A second error (unknown control, found by the service) still keeps it.
    second = client.post(reverse(URL), fields(controls="soc2-2017:CC99.9", held=token))
    assert second.status_code == 400
    assert "CC99.9" in str(second.context["form"].errors)
    assert second.context["held"].token == token

    done = client.post(reverse(URL), fields(held=token))
    assert done.status_code == 302
    item = ManualEvidence.objects.get()
    assert item.file_name == "Pentest_Report.pdf" and item.size == len(PDF)
    assert held_files(media_root) == []  # released once stored


def test_a_kept_file_belongs_to_its_session_only(media_root, catalogs, users):
    first = client_for(users.manager).post(
        reverse(URL), fields(title="", file=SimpleUploadedFile("r.pdf", PDF))
    )
    token = first.context["held"].token
    other = client_for(users.admin).post(reverse(URL), fields(held=token))
    assert other.status_code == 400
    assert other.context["form"].errors["file"] == ["Choose the file to upload."]
    assert not ManualEvidence.objects.exists()
    assert client_for(users.manager).post(reverse(URL), fields(held="../../etc")).status_code == 400


def test_a_refused_file_is_not_kept_and_field_errors_show_with_it(media_root, catalogs, users):
    response = client_for(users.manager).post(
        reverse(URL), fields(title="", file=SimpleUploadedFile("x.pdf", b"MZ" + b"\0" * 10))
    )
    form = response.context["form"]
    assert "title" in form.errors and "Windows executable" in str(form.errors["file"])
    assert response.context["held"] is None and held_files(media_root) == []


def test_choosing_another_file_replaces_the_kept_one(media_root, catalogs, users):
    client = client_for(users.manager)
    first = client.post(reverse(URL), fields(title="", file=SimpleUploadedFile("a.pdf", PDF)))
    token = first.context["held"].token
    second = client.post(
        reverse(URL),
        fields(title="", held=token, file=SimpleUploadedFile("b.txt", b"restore test log\n")),
    )
    assert second.context["held"].file_name == "b.txt"
    assert [n.rsplit("-", 1)[-1] for n in held_files(media_root)] == ["b.txt"]


def test_kept_files_expire(media_root, catalogs, users, time_machine):
    client = client_for(users.manager)
    first = client.post(reverse(URL), fields(title="", file=SimpleUploadedFile("a.pdf", PDF)))
    token = first.context["held"].token
    time_machine.move_to(_later(3600 + 60))  # HOLD_SECONDS + a minute
    late = client.post(reverse(URL), fields(held=token))
    assert late.status_code == 400 and late.context["held"] is None
    assert held_files(media_root) == []


def _later(seconds: int):
    from django.utils import timezone

    return timezone.now() + timedelta(seconds=seconds)
