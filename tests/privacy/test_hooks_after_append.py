"""Evidence appended by the app's registers runs the post-ingest hooks once its transaction
commits, as a collection does: a request that turns overdue makes its control fail, opens
the remediation task, the exception and the coverage row at once, not at the next daily
job. The hooks run after the commit (outside the chain lock) and never for a rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from pixaudit.controls.selectors import control_get_by_address
from pixaudit.evidence.models import EvidenceItem
from pixaudit.exceptions.models import ExceptionRecord
from pixaudit.posture.models import CoverageDay
from pixaudit.privacy.services import request_create
from pixaudit.tasks.models import ControlWatch, Task

OVERDUE = "privacy_requests.none_overdue"
SEEN: list[dict] = []


def recording_hook(*, item: EvidenceItem) -> None:
    """A post-ingest hook that notes where it ran (the test's settings add it)."""
    SEEN.append({"seq": item.seq, "key": item.collector_key,
                 "in_transaction": connection.in_atomic_block})  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_an_overdue_request_opens_its_task_and_exception_right_after_the_append(
    catalogs, media_root, settings
) -> None:
    settings.PIXAUDIT_POST_INGEST_HOOKS = [
        *settings.PIXAUDIT_POST_INGEST_HOOKS, f"{__name__}.recording_hook",
    ]  # fmt: skip
    SEEN.clear()
    control = control_get_by_address("soc2-2017:P5.1")
    assert not Task.objects.filter(control=control).exists()

    request_create(reference="DSR-LATE", kind="access",
                   received_on=timezone.localdate() - timedelta(days=45))  # fmt: skip

    item = EvidenceItem.objects.get(collector_key="privacy_requests")
    # The hooks ran once, after the commit: no transaction (so no chain lock) was open.
    assert SEEN == [{"seq": item.seq, "key": "privacy_requests", "in_transaction": False}]
    # tasks_after_ingest: the control turned failing and got its remediation task.
    assert ControlWatch.objects.get(control=control).status == "failing"
    task = Task.objects.get(control=control)
    assert task.status == "open"
    # exceptions_after_ingest and coverage_after_ingest: the register and the rollup.
    assert ExceptionRecord.objects.filter(assertion_id=OVERDUE, resource="DSR-LATE").exists()
    assert CoverageDay.objects.get(assertion_id=OVERDUE).end_status == "fail"


@pytest.mark.django_db(transaction=True)
def test_no_hooks_for_an_append_rolled_back_by_its_caller(catalogs, media_root,
                                                          settings) -> None:  # fmt: skip
    settings.PIXAUDIT_POST_INGEST_HOOKS = [f"{__name__}.recording_hook"]
    SEEN.clear()

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        request_create(reference="DSR-GONE", kind="access",
                       received_on=timezone.localdate() - timedelta(days=45))  # fmt: skip
        assert SEEN == []  # not inside the caller's transaction either
        raise Abort
    assert SEEN == [] and not EvidenceItem.objects.exists()
    with transaction.atomic():
        request_create(reference="DSR-KEPT", kind="access", received_on=timezone.localdate())
        assert SEEN == []  # deferred to the outermost commit
    assert [s["key"] for s in SEEN] == ["privacy_requests"]
    assert SEEN[0]["in_transaction"] is False
