"""The leaver and orphan test on hand-built populations with known answers (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from collectors.base import Status
from pixaudit.people.lifecycle import (
    JOINERS,
    LEAVERS,
    OWNED,
    Account,
    Declaration,
    EvidenceRef,
    Person,
    evaluate,
)

AS_OF = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
HR = EvidenceRef(10, "h" * 64, "hris_people", "BambooHR", datetime(2024, 6, 1, 6, tzinfo=UTC))
GH_EARLY = EvidenceRef(20, "a" * 64, "github_org", "GitHub", datetime(2024, 5, 31, 9, tzinfo=UTC))
GH = EvidenceRef(30, "b" * 64, "github_org", "GitHub", datetime(2024, 6, 1, 10, tzinfo=UTC))
OKTA_EARLY = EvidenceRef(25, "c" * 64, "okta_users", "Okta", datetime(2024, 5, 29, 23, tzinfo=UTC))
OKTA = EvidenceRef(31, "d" * 64, "okta_users", "Okta", datetime(2024, 6, 1, 9, tzinfo=UTC))
PG = EvidenceRef(15, "e" * 64, "postgres_server", "PG", datetime(2024, 5, 29, 8, tzinfo=UTC))


def person(eid, name, email, start, end=None):  # type: ignore[no-untyped-def]
    return Person(f"hris:bamboohr:acme/employee:{eid}", eid, name, email, start, end, HR)


def acct(ref, resource, name, email=None, status="active", created=None):  # type: ignore[no-untyped-def]
    return Account(resource, name, email, status, False, created, ref.connection, ref)


PEOPLE = [
    person("E1", "Alice", "alice@acme.example", date(2021, 3, 1)),
    person("E2", "Dan", "dan@acme.example", date(2019, 5, 6), date(2024, 5, 28)),
    person("E3", "Carol", "carol@acme.example", date(2024, 3, 1), date(2023, 6, 30)),  # rehired
    person("E4", "Fred", "fred@acme.example", date(2018, 1, 1), date(2022, 1, 31)),  # old record
    person("E5", "Fred", "fred@acme.example", date(2023, 5, 1)),  # rehired, new id
    person("E6", "Gina", "gina@acme.example", date(2024, 6, 10)),  # joins later
    person("E7", "Hal", "hal@acme.example", date(2020, 1, 1), date(2024, 5, 31)),
]
GH_ACCOUNTS_EARLY = [
    acct(GH_EARLY, "org:acme/user:dan-gh", "dan-gh"),  # 3 days after Dan's termination
    acct(GH_EARLY, "org:acme/user:alice-gh", "alice-gh"),
]
GH_ACCOUNTS = [
    acct(GH, "org:acme/user:alice-gh", "alice-gh"),
    acct(GH, "org:acme/user:hal-gh", "hal-gh", "hal@acme.example"),
    acct(GH, "org:acme/user:deploy-bot", "deploy-bot"),
    acct(GH, "org:acme/user:ci-bot", "ci-bot"),
    acct(GH, "org:acme/user:old-bot", "old-bot"),
    acct(GH, "org:acme/user:mallory", "mallory"),
    acct(GH, "org:acme/user:gone", "gone", status="suspended"),
]
OKTA_ACCOUNTS = [
    acct(OKTA, "00u-alice", "alice@acme.example", "alice@acme.example",
         created=datetime(2021, 3, 1, 8, tzinfo=UTC)),
    acct(OKTA, "00u-dan", "dan@acme.example", "dan@acme.example", status="deprovisioned"),
    acct(OKTA, "00u-carol", "carol@acme.example", "carol@acme.example",
         created=datetime(2022, 1, 1, tzinfo=UTC)),
    acct(OKTA, "00u-fred", "fred@acme.example", "fred@acme.example"),
    acct(OKTA, "00u-gina", "gina@acme.example", "gina@acme.example",
         created=datetime(2024, 5, 20, tzinfo=UTC)),
]  # fmt: skip
OKTA_ACCOUNTS_EARLY = [acct(OKTA_EARLY, "00u-dan", "dan@acme.example", "dan@acme.example")]
PG_ACCOUNTS = [acct(PG, "db:5432/role:dan", "dan", status="login")]
HISTORY = {
    "GitHub": [(GH_EARLY, GH_ACCOUNTS_EARLY), (GH, GH_ACCOUNTS)],
    "Okta": [(OKTA_EARLY, OKTA_ACCOUNTS_EARLY), (OKTA, OKTA_ACCOUNTS)],
    "PG": [(PG, PG_ACCOUNTS)],
}
DECLARATIONS = {
    "org:acme/user:deploy-bot": Declaration("org:acme/user:deploy-bot", "service", "E1"),
    "org:acme/user:ci-bot": Declaration("org:acme/user:ci-bot", "service", None),
    "org:acme/user:old-bot": Declaration("org:acme/user:old-bot", "service", "E2"),
    "org:acme/user:alice-gh": Declaration("org:acme/user:alice-gh", "person", "E1"),
}
ALIASES = {"dan-gh": "E2", "dan": "E2"}


def snapshot(system, instant):  # type: ignore[no-untyped-def]
    for ref, accounts in HISTORY[system]:
        if ref.collected_at >= instant:
            return ref, accounts
    return None


def run(**kw):  # type: ignore[no-untyped-def]
    latest = GH_ACCOUNTS + OKTA_ACCOUNTS + PG_ACCOUNTS
    return evaluate(people=PEOPLE, accounts=latest, declarations=DECLARATIONS, aliases=ALIASES,
                    snapshot=snapshot, as_of=AS_OF, **kw)  # fmt: skip


def statuses(result, assertion):  # type: ignore[no-untyped-def]
    return {f.resource: f.status for f in result.findings if f.assertion_id == assertion}


def test_leavers() -> None:
    result = run()
    assert statuses(result, LEAVERS) == {
        # Active in GitHub 3 days after the termination (removed since): FAIL.
        "org:acme/user:dan-gh": Status.FAIL,
        # Okta's first collection after the deadline shows the account deprovisioned.
        "00u-dan": Status.PASS,
        # PostgreSQL was last collected before the deadline, the role still logs in.
        "db:5432/role:dan": Status.ERROR,
        # Hal left yesterday: still inside the one day allowed.
        "org:acme/user:hal-gh": Status.WARN,
    }
    dan = next(f for f in result.findings if f.resource == "org:acme/user:dan-gh")
    assert "was still active on 2024-05-31 09:00 UTC, 3 days after" in dan.message
    # The finding names both evidence items, with their collection times.
    assert "evidence #20 (github_org, GitHub, collected 2024-05-31 09:00 UTC)" in dan.message
    assert "evidence #10 (hris_people, BambooHR, collected 2024-06-01 06:00 UTC)" in dan.message
    assert dan.thresholds == {"leaver_days": 1, "joiner_grace_days": 0}
    index = result.findings.index(dan)
    assert [s["seq"] for s in result.sources[index]] == [10, 20]


def test_a_longer_allowance_turns_the_github_leaver_into_a_pass() -> None:
    # With 4 days allowed, the first GitHub evidence after the deadline is #30, where Dan's
    # account is gone: nothing to judge there any more.
    result = run(leaver_days=4)
    assert "org:acme/user:dan-gh" not in statuses(result, LEAVERS)
    assert statuses(result, LEAVERS)["org:acme/user:hal-gh"] is Status.WARN


def test_ownership_service_accounts_and_orphans() -> None:
    result = run()
    assert statuses(result, OWNED) == {
        "org:acme/user:alice-gh": Status.PASS,  # mapping table
        "org:acme/user:deploy-bot": Status.PASS,  # service account, owner current
        "org:acme/user:ci-bot": Status.FAIL,  # service account without owner
        "org:acme/user:old-bot": Status.FAIL,  # owner left
        "org:acme/user:mallory": Status.FAIL,  # belongs to nobody
        "00u-alice": Status.PASS,
        "00u-carol": Status.PASS,  # rehired: a current employee
        "00u-fred": Status.PASS,  # the current of two HR records with the same e-mail
        "00u-gina": Status.PASS,
    }
    # suspended accounts and leavers' accounts are not judged for ownership
    assert result.matched["org:acme/user:gone"] == "unmatched"
    assert result.matched["00u-dan"] == "leaver"
    fred = next(f for f in result.findings if f.resource == "00u-fred")
    assert "belongs to Fred (E5)" in fred.message


def test_rehired_person_is_not_a_leaver() -> None:
    result = run()
    assert not [f for f in result.findings if "Carol" in f.message and f.assertion_id == LEAVERS]
    assert not [f for f in result.findings if "(E4" in f.message]


def test_joiners() -> None:
    result = run()
    assert statuses(result, JOINERS) == {
        "00u-alice": Status.PASS,
        "00u-gina": Status.FAIL,  # created before her start date
    }  # Carol's account is from her earlier employment: not judged
    assert statuses(run(joiner_grace_days=30), JOINERS)["00u-gina"] is Status.PASS


def test_population_rows_link_accounts_and_people() -> None:
    rows = {r["account"]: r for r in run().rows}
    assert (
        rows["org:acme/user:dan-gh"]["link"] == "leaver" if "org:acme/user:dan-gh" in rows else True
    )
    assert rows["00u-dan"]["link"] == "leaver" and rows["00u-dan"]["hr_evidence"] == 10
    assert rows["org:acme/user:mallory"]["link"] == "unmatched"
    assert rows["org:acme/user:deploy-bot"]["link"] == "service"


def test_earlier_verdicts_are_closed_when_the_account_is_gone_or_disabled() -> None:
    previous = {OWNED: ["org:acme/user:vanished", "org:acme/user:gone", "org:acme/user:mallory"]}
    result = run(previous=previous)
    owned = statuses(result, OWNED)
    assert owned["org:acme/user:vanished"] is Status.PASS
    assert owned["org:acme/user:gone"] is Status.PASS
    assert owned["org:acme/user:mallory"] is Status.FAIL  # still judged: still nobody's
    messages = {f.resource: f.message for f in result.findings if f.assertion_id == OWNED}
    assert "no longer in the latest evidence of any system" in messages["org:acme/user:vanished"]
    assert "is now suspended" in messages["org:acme/user:gone"]
    closed = {result.findings[i].resource for i in result.resolved}
    assert closed == {"org:acme/user:vanished", "org:acme/user:gone"}
