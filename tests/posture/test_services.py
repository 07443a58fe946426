"""Statement of Applicability decisions and readiness snapshots."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError

from pixaudit.controls.models import Control
from pixaudit.posture import jobs, selectors
from pixaudit.posture.models import ApplicabilityDecision, ReadinessSnapshot
from pixaudit.posture.services import (
    ApplicabilityError,
    applicability_decide,
    readiness_snapshot_take,
)

from .factories import make_evidence, make_result, map_assertion

pytestmark = pytest.mark.django_db


def test_exclusion_needs_a_justification(iso, user):
    control = Control.objects.get(framework=iso, ref="A.7.4")
    with pytest.raises(ApplicabilityError) as exc:
        applicability_decide(control=control, applicable=False, justification="  ", user=user)
    assert set(exc.value.errors) == {"justification"}
    decision = applicability_decide(
        control=control, applicable=False, justification="No physical premises.", user=user
    )
    assert (decision.decided_by, decision.applicable) == (user, False)
    assert decision.decided_at is not None


def test_the_database_refuses_an_unjustified_exclusion(iso):
    control = Control.objects.get(framework=iso, ref="A.7.4")
    with pytest.raises(IntegrityError):
        ApplicabilityDecision.objects.create(control=control, applicable=False, justification="")


def test_groups_carry_no_decision(iso, user):
    group = Control.objects.get(framework=iso, ref="A.5")
    with pytest.raises(ApplicabilityError) as exc:
        applicability_decide(control=group, applicable=True, user=user)
    assert "control" in exc.value.errors


def test_history_is_kept_and_soa_shows_the_latest(iso, user):
    control = Control.objects.get(framework=iso, ref="A.7.4")
    applicability_decide(control=control, applicable=False, justification="Remote only", user=user)
    applicability_decide(control=control, applicable=True, justification="New office", user=user)
    assert selectors.applicability_history(control=control).count() == 2
    entries = dict(selectors.soa_entries(framework=iso))
    assert entries[control].applicable is True
    assert len(entries) == 93  # Annex A


def test_snapshot_appends_and_the_trend_keeps_the_latest_of_each_day(soc2):
    control = Control.objects.get(framework=soc2, ref="CC6.1")
    map_assertion("synth.a", control)
    first = readiness_snapshot_take(framework=soc2, day=date(2026, 1, 5))
    make_result(make_evidence(), "synth.a", "r", "pass")
    again = readiness_snapshot_take(framework=soc2, day=date(2026, 1, 5))
    assert first.pk != again.pk and first.readiness == 0  # history: the first one stays
    trend = selectors.readiness_trend(framework=soc2, today=date(2026, 1, 5))
    assert [s.pk for s in trend] == [again.pk]
    assert again.readiness == pytest.approx(round(100 / 61, 2))
    assert again.counts["passing"] == 1 and again.assessable == 61


def test_daily_job_snapshots_every_framework(catalogs):
    assert jobs.readiness_snapshots_job() == 2
    assert ReadinessSnapshot.objects.count() == 2
    trend = selectors.readiness_trend(framework=catalogs["soc2-2017"])
    assert len(trend) == 1 and trend[0].readiness == 0
