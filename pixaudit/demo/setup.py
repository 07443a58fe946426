"""What ``manage.py demo`` does: a working pixaudit with evidence from local sandboxes.

Everything runs on this machine: the offline demo inventory, an AWS account simulated by a
moto server on 127.0.0.1, and an HTTPS endpoint with a throwaway CA. The sandboxes live only
while the demo collects; their connections are left disabled afterwards, so the scheduler
does not keep trying endpoints that are gone (``make demo`` again re-creates them).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import django_rq
from django.db import transaction

from collectors import registry
from pixaudit.accounts.models import User
from pixaudit.accounts.services import DemoCredential, demo_users_ensure
from pixaudit.audits.services import demo_engagement_ensure
from pixaudit.commitments.models import Commitment
from pixaudit.commitments.services import commitments_load_builtin
from pixaudit.controls.collector_mappings import check_mappings_sync_from_registry
from pixaudit.controls.models import Framework
from pixaudit.controls.services import catalogs_load_builtin
from pixaudit.demo.scope import demo_scope_ensure
from pixaudit.evidence.models import CollectionRun, Connection
from pixaudit.evidence.services import connection_create, connection_update
from pixaudit.evidence.services.scheduling import COLLECT_QUEUE, collections_enqueue_due
from pixaudit.posture.services import readiness_snapshots_take_all
from pixaudit.reports.services import report_render_now, report_scope_resolve
from pixaudit.reviews.services.demo import demo_campaign_ensure

SANDBOX_PREFIX = "Sandbox"
# The policy's 7-day image deletion applies to buckets tagged data=... in the sandbox.
AWS_THRESHOLDS = {
    "aws_s3_buckets": {"aws_s3_buckets.lifecycle_expiration": {"tag_key": "data"}},
}


@dataclass
class DemoReport:
    catalogs: list[str] = field(default_factory=list)
    mappings: int = 0
    users: list[DemoCredential] = field(default_factory=list)
    engagement: str = ""
    report: Any = None
    commitments: int = 0
    campaign: Any = None
    runs: list[CollectionRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _connection_ensure(
    *, name: str, collector_key: str, params: dict[str, Any], thresholds: dict | None = None
) -> Connection:
    existing = Connection.objects.filter(name=name).first()
    if existing is None:
        return connection_create(
            name=name, collector_key=collector_key, params=params, thresholds=thresholds
        )
    connection = connection_update(connection=existing, params=params, thresholds=thresholds or {})
    Connection.objects.filter(pk=connection.pk).update(enabled=True, next_run_at=None)
    return connection


@contextlib.contextmanager
def _environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _aws_connections(report: DemoReport) -> tuple[list[Connection], Callable[[], None], dict]:
    from pixaudit.demo.aws_sandbox import SANDBOX_PARAMS, seed_sandbox, start_moto_server

    url, stop = start_moto_server()
    seed_sandbox(url, n=2)
    connections = []
    for cls in registry.all_collectors():
        if cls.source != "aws":
            continue
        declared = {p.name for p in cls.params}
        connections.append(
            _connection_ensure(
                name=f"{SANDBOX_PREFIX} AWS · {cls.title}",
                collector_key=cls.key,
                params={k: v for k, v in SANDBOX_PARAMS.items() if k in declared},
                thresholds=AWS_THRESHOLDS.get(cls.key),
            )
        )
    report.notes.append(f"AWS sandbox: moto server at {url} (stopped after the demo collects)")
    env = {"AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "us-east-1"}
    return connections, stop, env


def _tls_connection(report: DemoReport) -> tuple[Connection, Callable[[], None]]:
    from pixaudit.demo.tls_sandbox import start_tls_endpoint

    host_port, ca_pem, stop = start_tls_endpoint()
    connection = _connection_ensure(
        name=f"{SANDBOX_PREFIX} HTTPS endpoint",
        collector_key="tls_endpoints",
        params={"endpoints": [host_port], "ca_bundle": str(ca_pem)},
    )
    report.notes.append(f"TLS sandbox: https://{host_port} with a throwaway CA")
    return connection, stop


def _run_due_jobs() -> list[CollectionRun]:
    runs = collections_enqueue_due()
    queue = django_rq.get_queue(COLLECT_QUEUE)
    if queue.is_async:
        # With REDIS_URL set the jobs went to Redis; work them here so the demo is complete.
        django_rq.get_worker(COLLECT_QUEUE).work(burst=True)
    return list(CollectionRun.objects.filter(pk__in=[r.pk for r in runs]).order_by("pk"))


def demo_setup() -> DemoReport:
    """Load catalogs and mappings, create demo users, collect from every sandbox."""
    report = DemoReport()
    with transaction.atomic():
        report.catalogs = [r.framework for r in catalogs_load_builtin()]
        report.mappings = check_mappings_sync_from_registry().created
        report.users = demo_users_ensure()
        auditor = User.objects.get(username="demo-auditor")
        engagement = demo_engagement_ensure(auditor=auditor)
        report.engagement = engagement.name
    registry.discover()
    _connection_ensure(name="Demo inventory (offline)", collector_key="demo_inventory", params={})
    stops: list[Callable[[], None]] = []
    env: dict[str, str] = {}
    sandbox: list[Connection] = []
    try:
        aws, stop, env = _aws_connections(report)
        stops.append(stop)
        sandbox += aws
        tls, stop = _tls_connection(report)
        stops.append(stop)
        sandbox.append(tls)
        with _environ(**env):
            report.runs = _run_due_jobs()
    finally:
        for stop in stops:
            stop()
        Connection.objects.filter(pk__in=[c.pk for c in sandbox]).update(enabled=False)
    commitments_load_builtin()
    report.commitments = Commitment.objects.count()
    report.campaign = demo_campaign_ensure()
    # The organisation's scope statement and a few control narratives, printed in the report.
    soc2 = Framework.objects.get(key="soc2-2017")
    manager = User.objects.get(username="demo-compliance-manager")
    demo_scope_ensure(framework=soc2, actor=manager)
    readiness_snapshots_take_all()
    # The engagement's SOC 2 report (its window is the last 90 days): managers see it under
    # Reports, and the demo auditor downloads it, watermarked, with its evidence pack.
    report.report = report_render_now(
        scope=report_scope_resolve(framework_key="soc2-2017", engagement_id=engagement.pk)
    )
    return report
