"""Benchmark: the vendor register at size on PostgreSQL.

Imports a CSV register of ``--vendors`` vendors (every one a processor, one in five
critical, with dates) through ``register_import`` (validation of every row, upserts, one
``vendor_register`` evidence item), imports the same file again (all updates), then times
one vendor edit (``vendor_save``: it appends the whole register as evidence in the same
transaction, so its cost grows with the register), the daily job, the list page and the
CSV/XLSX exports through Django's test client, with query counts.

Usage::

    .venv/bin/python benchmarks/bench_vendors.py                  # 1,000 vendors
    .venv/bin/python benchmarks/bench_vendors.py --vendors 5000

``BENCH_POSTGRES_URL`` names the server (default ``postgres://postgres@127.0.0.1:5432``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import setup_django  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--vendors", type=int, default=1000)
parser.add_argument("--requests", type=int, default=5)
args = parser.parse_args()

os.environ["DEBUG"] = "false"
setup_django("pixaudit_bench_vendors")

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from pixaudit.accounts.models import Role, User  # noqa: E402
from pixaudit.controls.services import catalogs_load_builtin  # noqa: E402
from pixaudit.vendors.importing import HEADERS, OPTIONAL  # noqa: E402
from pixaudit.vendors.jobs import vendors_daily_job  # noqa: E402
from pixaudit.vendors.models import Vendor  # noqa: E402
from pixaudit.vendors.services import (  # noqa: E402
    register_import,
    vendor_reminders_send,
    vendor_save,
)


def timed(label: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        result = fn()
    elapsed = time.perf_counter() - start
    print(f"{label}: {elapsed * 1000:.1f} ms, {len(queries)} queries")
    return result


def register_csv(n: int) -> bytes:
    today = timezone.localdate()
    columns = HEADERS + OPTIONAL
    lines = [",".join(columns)]
    for i in range(n):
        values = {
            "name": f"Vendor {i:05d}", "purpose": "Hosting and storage",
            "criticality": "critical" if i % 5 == 0 else "medium", "processor": "yes",
            "data_categories": "customer images; e-mail addresses", "subprocessor": "yes",
            "dpa_signed_on": (today - timedelta(days=100 + i % 300)).isoformat(),
            "dpa_version": "2", "report_kind": "soc2_type2", "report_issuer": "Audit LLP",
            "report_period_start": (today - timedelta(days=i % 500 + 365)).isoformat(),
            "report_period_end": (today - timedelta(days=i % 500)).isoformat(),
            "next_review_on": (today + timedelta(days=i % 400 - 30)).isoformat(),
        }  # fmt: skip
        lines.append(",".join(str(values.get(c, "")) for c in columns))
    return ("\n".join(lines) + "\n").encode()


catalogs_load_builtin()
data = register_csv(args.vendors)
print(f"{args.vendors} vendors, CSV {len(data) / 1024:.0f} KiB")
timed("import (all new)", lambda: register_import(filename="bench.csv", data=data))
timed("import again (nothing changed)", lambda: register_import(filename="bench.csv", data=data))
changed = data.replace(b"Hosting and storage", b"Hosting storage and CDN")
timed("import with every row changed", lambda: register_import(filename="b.csv", data=changed))
vendor = Vendor.objects.order_by("name").first()
fields = {k: getattr(vendor, k) for k in ("name", "purpose", "criticality", "is_processor")}
edits = []
for n in range(args.requests):
    start = time.perf_counter()
    vendor_save(vendor=vendor, data={**fields, "purpose": f"Hosting {n}"})
    edits.append((time.perf_counter() - start) * 1000)
print(f"one vendor edit (appends the register): median {statistics.median(edits):.1f} ms "
      f"over {len(edits)}")  # fmt: skip
timed("reminders, first day (one per due date)", vendor_reminders_send)
timed("daily job (register evidence; reminders already sent)", vendors_daily_job)

setup_test_environment()
manager = User.objects.create_user(username="bench-manager", password="x",
                                   role=Role.ENGINEER)  # fmt: skip
client = Client()
client.force_login(manager)
for label, url in (("GET /vendors/", reverse("vendors:list")),
                   ("GET /vendors/?attention=review_overdue",
                    reverse("vendors:list") + "?attention=review_overdue"),
                   ("GET export.csv", reverse("vendors:export", args=["csv"])),
                   ("GET export.xlsx", reverse("vendors:export", args=["xlsx"]))):  # fmt: skip
    times, count = [], 0
    for _ in range(args.requests):
        start = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        count = len(queries)
        assert response.status_code == 200, (url, response.status_code)
    print(f"{label}: median {statistics.median(times):.1f} ms, {count} queries")
