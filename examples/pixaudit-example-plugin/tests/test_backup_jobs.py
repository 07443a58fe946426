"""Scenarios of ``example_backup_jobs`` against recorded reports served on 127.0.0.1."""

from __future__ import annotations

import logging
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pixaudit_example_plugin.backup_jobs import ExampleBackupJobsCollector

from collectors import CollectorError, ParamError, Status
from collectors.lint import lint_collector
from collectors.testing import run_collector, serve_fixtures

FIXTURES = Path(__file__).parent / "fixtures" / "backup_report"
PROJECT = Path(__file__).parent.parent
NOW = datetime(2024, 6, 1, 6, 0, tzinfo=UTC)
TOKEN = "bk-token-0123456789"


def _by_job(result, assertion_id: str, server) -> dict:
    """Statuses keyed by job name; findings name jobs ``<server>/<job>``."""
    prefix = f"{server.base_url.split('//', 1)[1]}/"
    statuses = result.statuses(assertion_id)
    assert all(r == "*" or r.startswith(prefix) for r in statuses), statuses
    return {r.removeprefix(prefix): status for r, status in statuses.items()}


def test_collector_is_conformant() -> None:
    assert lint_collector(ExampleBackupJobsCollector) == []


def test_entry_point_is_named_after_the_key() -> None:
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    entry_points = project["project"]["entry-points"]["pixaudit.collectors"]
    cls = ExampleBackupJobsCollector
    assert entry_points == {cls.key: f"{cls.__module__}:{cls.__qualname__}"}


def test_report_rows_and_findings() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            ExampleBackupJobsCollector,
            {"report_url": server.url("/api/v1/report"), "api_token": TOKEN},
            now=NOW,
        )
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert [row["job_name"] for row in result.rows] == [
        "fileserver",
        "gitlab",
        "ldap",
        "postgres-prod",
    ]
    postgres = result.rows[-1]
    host = server.base_url.split("//", 1)[1]
    assert postgres == {
        "resource": f"{host}/postgres-prod",
        "job_name": "postgres-prod",
        "target": "s3://acme-backups/postgres",
        "last_success_at": "2024-05-31T23:10:00.000000Z",
        "hours_since_success": 6.83,
        "encrypted": True,
        "retention_days": 35,
    }
    assert _by_job(result, "example_backup_jobs.recent_success", server) == {
        "fileserver": Status.FAIL,
        "gitlab": Status.FAIL,
        "ldap": Status.ERROR,  # the server could not read it: never a pass
        "postgres-prod": Status.PASS,
    }
    assert _by_job(result, "example_backup_jobs.encrypted", server) == {
        "fileserver": Status.FAIL,
        "gitlab": Status.WARN,
        "ldap": Status.PASS,
        "postgres-prod": Status.PASS,
    }
    assert _by_job(result, "example_backup_jobs.retention", server) == {
        "fileserver": Status.FAIL,
        "gitlab": Status.PASS,
        "ldap": Status.PASS,
        "postgres-prod": Status.PASS,
    }
    ldap = result.finding("example_backup_jobs.recent_success", f"{host}/ldap")
    assert "repository is locked" in ldap.message
    assert ldap.controls == ("soc2-2017:A1.2", "iso27001-2022:A.8.13")
    assert result.identity == "127.0.0.1 (api token)"
    assert result.api_calls == ["backup:ReadReport"]


def test_identical_reports_give_identical_rows() -> None:
    with serve_fixtures(FIXTURES) as server:
        params = {"report_url": server.url("/api/v1/report")}
        first = run_collector(ExampleBackupJobsCollector, params, now=NOW)
        second = run_collector(ExampleBackupJobsCollector, params, now=NOW)
    assert first.rows == second.rows
    assert "Authorization" not in server.requests[0]["headers"]
    assert first.identity == "127.0.0.1 (anonymous)"


def test_max_hours_is_a_tunable_threshold() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            ExampleBackupJobsCollector,
            {"report_url": server.url("/api/v1/report")},
            now=NOW,
            thresholds={"example_backup_jobs.recent_success": {"max_hours": 80}},
        )
    host = server.base_url.split("//", 1)[1]
    finding = result.finding("example_backup_jobs.recent_success", f"{host}/fileserver")
    assert finding.status is Status.PASS
    assert finding.thresholds == {"max_hours": 80}


def test_jobs_are_named_with_their_server() -> None:
    # Job names are unique on one server only: two servers' "postgres-prod" are two resources.
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            ExampleBackupJobsCollector,
            {"report_url": server.url("/api/v1/report").replace("127.0.0.1", "u:p@127.0.0.1")},
            now=NOW,
        )
    host = server.base_url.split("//", 1)[1]  # 127.0.0.1:<port>, no user info
    assert {row["resource"] for row in result.rows} == {
        f"{host}/{row['job_name']}" for row in result.rows
    }
    assert {f.resource for f in result.findings} <= {row["resource"] for row in result.rows}


def test_empty_report_fails_on_the_whole_server() -> None:
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            ExampleBackupJobsCollector, {"report_url": server.url("/empty/api/v1/report")}
        )
    assert result.rows == []
    assert result.statuses("example_backup_jobs.recent_success") == {"*": Status.FAIL}


def test_rejected_token_is_permanent_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve_fixtures(FIXTURES) as server:
        with pytest.raises(CollectorError) as info:
            run_collector(
                ExampleBackupJobsCollector,
                {"report_url": server.url("/denied/api/v1/report"), "api_token": TOKEN},
            )
    assert info.value.permanent is True
    assert "HTTP 401" in str(info.value)
    assert TOKEN not in caplog.text


def test_busy_server_is_retried_after_the_requested_delay() -> None:
    waits: list[float] = []
    with serve_fixtures(FIXTURES) as server:
        result = run_collector(
            ExampleBackupJobsCollector,
            {"report_url": server.url("/busy/api/v1/report")},
            now=NOW,
            sleep=waits.append,  # no real sleeping in tests
        )
        assert server.hits("GET /busy/api/v1/report") == 2
    assert waits == [7.0]
    assert len(result.rows) == 4


@pytest.mark.parametrize(
    ("path", "permanent", "message"),
    [
        ("/html/api/v1/report", False, "invalid JSON"),
        ("/wrong-shape/api/v1/report", True, "no 'jobs' list"),
        ("/missing", True, "HTTP 404"),
    ],
)
def test_unusable_reports_are_collector_errors(path: str, permanent: bool, message: str) -> None:
    with serve_fixtures(FIXTURES) as server:
        with pytest.raises(CollectorError, match=message) as info:
            run_collector(ExampleBackupJobsCollector, {"report_url": server.url(path)})
    assert info.value.permanent is permanent


def test_params_are_validated() -> None:
    with pytest.raises(ParamError) as info:
        run_collector(ExampleBackupJobsCollector, {})
    assert info.value.errors == {"report_url": "This parameter is required."}
    with pytest.raises(CollectorError, match="must be an http"):
        run_collector(ExampleBackupJobsCollector, {"report_url": "ftp://backup.example/r"})
