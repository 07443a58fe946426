"""Reports say which connection each result came from, count every connection at period end,
and show a connection whose last collection failed as ERROR (issues 12.2 and 13.7)."""

from __future__ import annotations

import json

from pixaudit.evidence.models import RUN_FAILED_RESOURCE
from pixaudit.evidence.services import (
    collection_run_create,
    collection_run_execute,
    connection_create,
    connection_update,
)
from pixaudit.reports.rendering import report_html
from pixaudit.reports.selectors import report_data

GOOD = json.dumps([{"name": "bucket-logs", "kind": "storage", "encrypted": True,
                    "key_age_days": 10, "owner": "platform"}])  # fmt: skip
ENCRYPTION = "demo_inventory.encryption_at_rest"


def _run(connection):
    run = collection_run_create(connection=connection, trigger="manual")
    return collection_run_execute(run_id=run.pk)


def _encryption(data, ref: str = "CC6.1"):
    section = next(s for s in data.sections if s.control.ref == ref)
    return section, next(a for a in section.assertions if a.assertion_id == ENCRYPTION)


def test_failing_results_name_their_connection_and_a_second_one_hides_nothing(scope, collected):
    passing = connection_create(
        name="Passing inventory", collector_key="demo_inventory", params={"resources": GOOD}
    )
    assert _run(passing).status == "succeeded"
    data = report_data(framework=scope.framework, period=scope.period)
    section, encryption = _encryption(data)
    assert section.status == "failing"
    assert encryption.counts == {"pass": 3, "fail": 1}  # the last run of each connection
    assert [(f.resource, f.connection) for f in encryption.failing] == [("bucket-logs", "Demo")]
    html = report_html(data)
    assert "<th>Connection</th>" in html and "<td>Demo</td>" in html


def test_a_connection_whose_last_run_failed_is_error_at_period_end(catalogs):
    from pixaudit.reports.services import report_scope_resolve

    connection = connection_create(
        name="Storage", collector_key="demo_inventory", params={"resources": GOOD}
    )
    assert _run(connection).status == "succeeded"
    scope = report_scope_resolve(framework_key="soc2-2017")
    data = report_data(framework=scope.framework, period=scope.period)
    assert _encryption(data)[0].status == "passing"

    connection_update(
        connection=connection, params={"resources": GOOD, "simulate_error": "permanent"}
    )
    failed = _run(connection)
    assert failed.status == "failed"
    data = report_data(framework=scope.framework, period=scope.period)
    section, encryption = _encryption(data)
    assert section.status == "error"
    assert encryption.counts == {"pass": 1, "error": 1}
    row = encryption.failing[0]
    assert (row.resource, row.connection, row.run_id) == (RUN_FAILED_RESOURCE, "Storage", failed.pk)
    assert "simulated permanent failure" in row.message
    assert "simulated permanent failure" in report_html(data)
