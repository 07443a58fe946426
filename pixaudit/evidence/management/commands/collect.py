"""``manage.py collect``: run collectors in the foreground, show progress, summarise findings.

Exit status 0 when every collection ran (whatever its findings say), 1 when one could not
run (bad params, unreachable source, revoked credential), 2 for a usage error
(unknown key, unreadable --params file).
"""

from __future__ import annotations

import difflib
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError

from collectors import ParamError, registry
from collectors.evaluate import validate_thresholds
from pixaudit.evidence.canonical import format_datetime
from pixaudit.evidence.models import Connection, RunStatus, RunTrigger
from pixaudit.evidence.services import (
    CollectionRunActive,
    CollectorIsAppRegister,
    ConnectionIsPushed,
    ConnectionParamsError,
    collection_run_create,
    collection_run_execute,
)
from pixaudit.evidence.services.scheduling import collection_run_start

# Foreground retries of a transient failure (the job layer uses longer, queued backoff).
CLI_RETRY_SECONDS = (2, 5)


class UsageError(CommandError):
    """The command line itself is wrong: exit status 2, like argparse."""

    def __init__(self, message: str):
        super().__init__(message, returncode=2)


class Command(BaseCommand):
    help = "Run collectors now, store their evidence and print a summary of the findings."

    def add_arguments(self, parser):
        parser.add_argument("keys", nargs="*", metavar="KEY", help="Collector keys to run")
        parser.add_argument("--source", help="Run every collector of this source (aws, tls, ...)")
        parser.add_argument("--connection", help="Run a saved connection by name")
        parser.add_argument(
            "--params",
            metavar="FILE.json",
            help='Params as JSON: {"param": value} for all, or {"<key>": {...}} per collector',
        )
        parser.add_argument(
            "--thresholds",
            metavar="FILE.json",
            help='Assertion thresholds as JSON: {"<assertion id>": {"<param>": value}}',
        )
        parser.add_argument(
            "--findings-out", metavar="FILE.jsonl", help="Write every finding as JSON lines"
        )
        parser.add_argument(
            "--no-store", action="store_true", help="Evaluate without storing evidence"
        )

    def handle(self, *args, **options):
        registry.discover()
        plans = self._plans(options)  # usage errors (exit 2) first: most need no database
        require_migrated_database()
        findings_out = open_findings_out(options["findings_out"])
        failed = 0
        summary: dict[str, Counter] = defaultdict(Counter)
        try:
            for label, make_run in plans:
                run = self._execute_with_retries(label, make_run, store=not options["no_store"])
                if run.status != RunStatus.SUCCEEDED:
                    failed += 1
                    self.stderr.write(self.style.ERROR(f"{label}: FAILED: {run.error_message}"))
                    continue
                result = run.result
                stored = f", evidence seq {result.evidence.seq}" if result.evidence else ""
                self.stdout.write(
                    self.style.SUCCESS(f"{label}: {run.rows_count} rows, ")
                    + f"{len(result.findings)} findings, sha256 {result.sha256[:16]}…{stored}"
                )
                collected_at = format_datetime(run.started_at)
                for finding in result.findings:
                    summary[finding.assertion_id][str(finding.status)] += 1
                    if findings_out:
                        line = {**finding.to_dict(), "assertion": finding.assertion_id}
                        line.update(collector=run.collector_key, collected_at=collected_at)
                        findings_out.write(json.dumps(line, sort_keys=True) + "\n")
        finally:
            if findings_out:
                findings_out.close()
        self._print_summary(summary)
        if failed:
            self.stderr.write(self.style.ERROR(f"{failed} of {len(plans)} collection(s) failed"))
            sys.exit(1)

    # --- planning ---------------------------------------------------------------------------

    def _plans(self, options) -> list[tuple[str, Any]]:
        if options["connection"]:
            if options["keys"] or options["source"] or options["params"] or options["thresholds"]:
                raise UsageError("--connection takes no KEY, --source, --params or --thresholds")
            require_migrated_database()
            connection = Connection.objects.filter(name=options["connection"]).first()
            if connection is None:
                raise UsageError(f"no connection named {options['connection']!r}")
            return [(connection.name, lambda: self._create(connection=connection))]
        keys = list(options["keys"])
        if options["source"]:
            of_source = [c for c in registry.all_collectors() if c.source == options["source"]]
            if not of_source:
                raise UsageError(f"no collector has source {options['source']!r}")
            # App registers are recorded by the app, never run: --source skips them.
            keys += [c.key for c in of_source if not c.app_register]
            if not keys:
                raise UsageError(
                    f"every collector of source {options['source']!r} is recorded by the "
                    "app, not run: " + "; ".join(f"{c.key} from {c.recorded_in}" for c in of_source)
                )
        if not keys:
            raise UsageError("name collector KEYs, a --source or a --connection")
        known = {c.key for c in registry.all_collectors()}
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise UsageError(
                f"unknown collector(s): {', '.join(unknown)} (see `manage.py collectors`)"
            )
        registers = [registry.get(k) for k in dict.fromkeys(keys) if registry.get(k).app_register]
        if registers:
            raise UsageError(
                "; ".join(
                    f"{c.key} is recorded by pixaudit from {c.recorded_in}, never collected "
                    "(its evidence is appended after each change there)"
                    for c in registers
                )
            )
        params = load_params(options["params"], keys)
        thresholds = load_json_object(options["thresholds"], "--thresholds")
        check_thresholds(thresholds, [registry.get(k) for k in dict.fromkeys(keys)])
        return [
            (
                key,
                lambda key=key: self._create(
                    collector_key=key,
                    params=params.get(key, {}),
                    thresholds={a: v for a, v in thresholds.items() if a.startswith(key + ".")},
                ),
            )
            for key in dict.fromkeys(keys)
        ]

    def _create(self, **kwargs):
        # The run is owned by this process from the start, so that if it is killed the
        # sweep can tell (pid and start time) and the next `collect` is not refused.
        try:
            if "connection" in kwargs:
                # A run left by a dead process is failed first; a retry waiting for its due
                # time is taken over and run here.
                return collection_run_start(
                    connection=kwargs["connection"], trigger=RunTrigger.CLI, foreground=True
                )
            return collection_run_create(trigger=RunTrigger.CLI, foreground=True, **kwargs)
        except ConnectionParamsError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in sorted(exc.errors.items()))
            raise CommandError(f"invalid params: {detail}") from None
        except CollectionRunActive as exc:
            raise CommandError(f"already running: {exc}") from None
        except (ConnectionIsPushed, CollectorIsAppRegister) as exc:
            raise CommandError(str(exc)) from None

    # --- running ----------------------------------------------------------------------------

    def _execute_with_retries(self, label: str, make_run, *, store: bool):
        bar = ProgressBar(label, self.stderr)
        run = self._execute(make_run(), store=store, bar=bar)
        for delay in CLI_RETRY_SECONDS:
            if run.status == RunStatus.SUCCEEDED or run.error_permanent:
                break
            self.stderr.write(f"{label}: {run.error_message}; retrying in {delay}s")
            time.sleep(delay)
            run = self._execute(make_run(), store=store, bar=bar)
        return run

    def _execute(self, run, *, store: bool, bar: ProgressBar):
        try:
            return collection_run_execute(run_id=run.pk, store=store, progress=bar.update)
        except (OperationalError, InterfaceError) as exc:
            # The database stayed away longer than PIXAUDIT_DB_RECONNECT_SECONDS: the run
            # could not even be marked failed; the scheduler's sweep will, once it is back.
            raise CommandError(f"the database is unreachable: {exc}".strip()) from None
        finally:
            bar.close()

    def _print_summary(self, summary: dict[str, Counter]) -> None:
        if not summary:
            return
        width = max(len(k) for k in summary)
        header = f"{'assertion'.ljust(width)}  {'pass':>5} {'fail':>5} {'warn':>5} {'error':>5}"
        self.stdout.write("")
        self.stdout.write(header)
        self.stdout.write("-" * len(header))
        for assertion_id in sorted(summary):
            c = summary[assertion_id]
            self.stdout.write(
                f"{assertion_id.ljust(width)}  {c['pass']:>5} {c['fail']:>5} "
                f"{c['warn']:>5} {c['error']:>5}"
            )


def require_migrated_database() -> None:
    """Refuse to start, with the command to run, when the database lacks migrations.

    Every run is recorded (even with ``--no-store``, which stores no evidence), so on a fresh
    clone ``collect`` needs ``migrate`` first; without this check it dies on "no such table".
    """
    from django.db import DEFAULT_DB_ALIAS, connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        raise CommandError(
            f"the database is not ready ({len(pending)} migration(s) not applied): run "
            "`.venv/bin/python manage.py migrate` first (collect records every run, "
            "even with --no-store)"
        )


def load_params(path: str | None, keys: list[str]) -> dict[str, dict]:
    """Params per collector key from a JSON file (shared or keyed by collector)."""
    data = load_json_object(path, "--params")
    if data and set(data) <= set(keys) and all(isinstance(v, dict) for v in data.values()):
        return data
    return {key: data for key in keys}


def load_json_object(path: str | None, option: str) -> dict:
    """A JSON object from a file, with errors that name the option, line and column."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{option}: no such file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{option}: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{option}: {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, dict):
        raise UsageError(f"{option}: {path} must hold a JSON object")
    return data


def check_thresholds(thresholds: dict, classes: list) -> None:
    """Refuse thresholds that would be ignored or are invalid (a typo must not run defaults).

    Every key must be an assertion id of a collector being run, and every threshold name
    one that assertion declares; the message names the bad key and the valid ones.
    """
    problems: list[str] = []
    owners = {a.id: cls for cls in classes for a in cls.assertions}
    for assertion_id in thresholds:
        if assertion_id in owners:
            continue
        other = next(
            (c for c in registry.all_collectors() if assertion_id in c.assertions_by_id), None
        )
        if other is not None:
            problems.append(
                f"{assertion_id!r} is an assertion of {other.key}, which is not being run"
            )
            continue
        valid = sorted(owners)
        close = difflib.get_close_matches(assertion_id, valid, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(
            f"unknown assertion {assertion_id!r} (valid: {', '.join(valid) or 'none'}){hint}"
        )
    for cls in classes:
        mine = {a: v for a, v in thresholds.items() if owners.get(a) is cls}
        try:
            validate_thresholds(cls, mine)
        except ParamError as exc:
            problems += [f"{key}: {message}" for key, message in sorted(exc.errors.items())]
    if problems:
        raise UsageError("--thresholds: " + "; ".join(problems))


def open_findings_out(path: str | None):
    if not path:
        return None
    try:
        return open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed by the caller)
    except OSError as exc:
        raise UsageError(f"--findings-out: cannot write {path}: {exc}") from None


class ProgressBar:
    """A one-line progress bar on stderr, fed by the collector's ``ctx.progress`` calls."""

    def __init__(self, label: str, stream, width: int = 30):
        self.label, self.stream, self.width = label, stream, width
        self.drawn = False

    def update(self, done: int, total: int | None, message: str) -> None:
        if total:
            filled = int(self.width * min(done, total) / total)
            bar = "#" * filled + "." * (self.width - filled)
            text = f"\r{self.label} [{bar}] {done}/{total} {message[:40]}"
        else:
            text = f"\r{self.label} {done} {message[:40]}"
        self.stream.write(text.ljust(100), ending="")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("")
            self.drawn = False
