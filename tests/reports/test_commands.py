"""manage.py report, pack, oscal_export, signing_key and the engagement seam."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from pixaudit.reports import signing
from pixaudit.reports.verify import verify_pack


def test_report_and_pack_commands(collected, tmp_path, capsys, monkeypatch):
    from pixaudit.reports import services
    from pixaudit.reports.rendering import RenderedPdf

    fake = RenderedPdf(b"%PDF-y", 1)
    monkeypatch.setattr(services, "report_pdf", lambda data, progress=None: fake)
    today = timezone.now().date()
    out = tmp_path / "report.pdf"
    call_command("report", "--framework", "soc2-2017", "--from", str(today - timedelta(days=7)),
                 "--to", str(today), "--out", str(out))  # fmt: skip
    assert out.read_bytes() == b"%PDF-y"
    assert "soc2-2017" in capsys.readouterr().out
    pack = tmp_path / "pack.zip"
    call_command("pack", "--framework", "soc2-2017", "--out", str(pack))
    assert verify_pack(pack).ok


def test_oscal_export_and_signing_key_commands(collected, tmp_path, capsys):
    call_command("oscal_export", "--framework", "iso27001-2022", "--out-dir", str(tmp_path))
    results = json.loads((tmp_path / "assessment-results.json").read_text())
    assert results["assessment-results"]["metadata"]["oscal-version"]
    assert json.loads((tmp_path / "catalog.json").read_text())["catalog"]["groups"]
    capsys.readouterr()
    call_command("signing_key", "--public")
    assert capsys.readouterr().out.encode() == signing.public_key_pem()


def test_unknown_framework_and_bad_dates(catalogs):
    with pytest.raises(CommandError, match="not loaded"):
        call_command("oscal_export", "--framework", "nope", "--out-dir", "/tmp/x")
    with pytest.raises(CommandError, match="before it starts"):
        call_command("report", "--framework", "soc2-2017", "--from", "2026-02-01",
                     "--to", "2026-01-01", "--out", "/tmp/x.pdf")  # fmt: skip


def test_engagement_window_and_framework(catalogs):
    from django.apps import apps

    from pixaudit.reports.services import ReportScopeError, report_scope_resolve

    if not apps.is_installed("pixaudit.audits"):
        with pytest.raises(ReportScopeError, match="audits app"):
            report_scope_resolve(framework_key=None, engagement_id=1)
        return
    engagement_model = apps.get_model("audits", "Engagement")
    engagement = engagement_model.objects.create(
        name="FY26 SOC 2 Type II", window_start=date(2026, 1, 1), window_end=date(2026, 6, 30)
    )
    engagement.frameworks.add(catalogs["soc2-2017"])
    scope = report_scope_resolve(framework_key=None, engagement_id=engagement.pk)
    assert scope.framework.key == "soc2-2017" and scope.engagement_id == engagement.pk
    assert (scope.period.start, scope.period.end) == (date(2026, 1, 1), date(2026, 6, 30))
    assert scope.engagement_name == "FY26 SOC 2 Type II"
    with pytest.raises(ReportScopeError, match="does not cover iso27001-2022"):
        report_scope_resolve(framework_key="iso27001-2022", engagement_id=engagement.pk)
    with pytest.raises(ReportScopeError, match="no engagement"):
        report_scope_resolve(framework_key=None, engagement_id=engagement.pk + 100)
