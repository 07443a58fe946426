"""``manage.py people_leaver_test``: run the leaver, orphan and joiner test now."""

from __future__ import annotations

from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from pixaudit.people.services import PeopleError, lifecycle_run


class Command(BaseCommand):
    help = (
        "Match every identity population's accounts to the HR people (e-mail, aliases, the "
        "mapping table), check leavers, owners and joiners, and append the result as evidence."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--leaver-days",
            type=int,
            default=1,
            help="Days allowed to disable a leaver's accounts (default 1).",
        )
        parser.add_argument("--joiner-grace-days", type=int, default=0,
                            help="Days an account may exist before its person starts.")  # fmt: skip

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            item = lifecycle_run(leaver_days=options["leaver_days"],
                                 joiner_grace_days=options["joiner_grace_days"])  # fmt: skip
        except PeopleError as exc:
            raise CommandError(str(exc)) from None
        counts = Counter(item.findings.values_list("status", flat=True))
        summary = ", ".join(f"{counts[s]} {s}" for s in ("pass", "fail", "warn", "error"))
        self.stdout.write(f"evidence #{item.seq}: {item.row_count} accounts, {summary}")
