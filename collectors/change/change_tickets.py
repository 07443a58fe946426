"""Merged changes joined to the ticket populations: is each cited ticket seen and approved?"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import (
    CollectionContext,
    Collector,
    CollectorError,
    Column,
    Outcome,
    Severity,
    Status,
    assertion,
    register,
)

_KEY = "change_tickets"
_CONTROLS = ("soc2-2017:CC8.1", "iso27001-2022:A.8.32")
#: How to make a missing ticket seen, per ticket collector (``{keys}``: the missing keys;
#: ``{teams}``: their prefixes, the Jira project or Linear team). A population without an
#: entry gets the generic sentence of :func:`_how_to_see`.
SEE_HINTS = {
    "jira_changes": "a jira_changes connection whose jql reads it (e.g. key in ({keys})) or "
    "whose project is the ticket's project",
    "linear_changes": "a linear_changes connection whose team_keys include the issue's team "
    "({teams}), with a window_days long enough to reach the issue's last update (and labels "
    "or state_types, when set, that the issue has)",
}
#: ``approval`` value of a seen ticket that has no approval verdict (e.g. not done yet).
NOT_JUDGED = "not_judged"


def _how_to_see(populations: list[str], keys: list[str]) -> str:
    joined = ", ".join(keys)
    teams = ", ".join(dict.fromkeys(k.rsplit("-", 1)[0] for k in keys))
    hints = [SEE_HINTS[p].format(keys=joined, teams=teams) if p in SEE_HINTS else
             f"a {p} connection that reads it" for p in populations]  # fmt: skip
    return "; or ".join(hints)


def _no_population(row: dict[str, Any]) -> Outcome:
    populations = row["ticket_populations"] or []
    names = " or ".join(populations) or "none declared"
    return Outcome(Status.ERROR, f"No ticket population evidence ({names}): whether the cited "
                   f"tickets ({', '.join(row['cited_keys'] or []) or 'none'}) exist and were "
                   f"approved cannot be checked. Collect a ticket population "
                   f"({names}).")  # fmt: skip


def _sources(row: dict[str, Any]) -> str:
    return ", ".join(row["ticket_evidence"] or [])


@register
class ChangeTicketsCollector(Collector):
    """Each merged change joined to the ticket populations: the cited tickets seen, approved.

    Declaration only: the rows are derived by the platform (``pixaudit.changes``), which
    joins the latest ``github_pull_requests`` evidence of every GitHub connection with the
    latest evidence of every declared ticket population (``jira_changes`` and
    ``linear_changes``: ``pixaudit.changes.services.TICKET_POPULATIONS``), after each ingest
    of any of them and daily.
    Collectors never read each other's evidence, so this join is not done in a collector; a
    connection of this collector cannot be run (its ``collect`` fails permanently, saying
    where the rows come from). No API is called, so no permission is needed.

    One row per change (a merged pull request, or a direct push to the default branch) of
    the latest pull-request evidence of each GitHub connection; the same change reported by
    two connections is kept once, from the most recent evidence. ``cited_keys`` are the
    issue keys the change cites; ``keys_seen`` those present in a ticket population's latest
    evidence (null: no ticket population evidence at all); ``approval`` the seen tickets'
    verdict of the population's approval check (``jira_changes.approved_before_done``,
    ``linear_changes.approved_before_done``) with its message, collector and evidence seq,
    ``not_judged`` when the ticket has none (not done yet). A key in both populations keeps
    the verdict of the most recent evidence.
    ``source_seq`` and ``ticket_evidence`` name the evidence items the row was derived from;
    the item's provenance lists them with their SHA-256, so the join can be redone.

    A key missing from the populations is "not seen", not "does not exist": the ticket may
    have been last updated before the population's window, or belong to a project the
    population does not read. Such a change is a WARN (needs review) whose message says how
    to make the ticket seen (for ``jira_changes``: a ``jql`` such as ``key in (ABC-1)``, or
    the ticket's project; for ``linear_changes``: the issue's team in ``team_keys``, and a
    ``window_days`` reaching its last update). A change that cites no key fails the first
    check (the citation itself is judged by ``github_pull_requests.cites_a_ticket``) and the
    second (no approval can be shown); a change whose tickets are not seen warns in both.

    Example row: ``acme-corp/api#101``, merged 2026-11-28, cites ``OPS-7`` and ``PAY-12``;
    ``PAY-12`` is in the ``jira_changes`` evidence (seq 41) and was approved before it was
    done: both checks pass (``OPS-7``, not seen, is named in the message).
    """

    key = _KEY
    title = "Change tickets (merged changes joined to the ticket populations)"
    version = 1
    permissions = ()
    columns = (
        Column("change", "string", "owner/name#number, or owner/name@sha12 (a direct push)."),
        Column("change_type", "string", "pull_request, or direct_push."),
        Column("repository", "string", "owner/name."),
        Column("merged_at", "datetime", "When it was merged (a direct push: pushed)."),
        Column("source_seq", "integer", "Seq of the github_pull_requests evidence it is from."),
        Column("cited_keys", "json", "Issue keys the change cites (title, branch, body)."),
        Column("keys_seen", "json", "Cited keys in a ticket population (null: no population)."),
        Column("keys_approved", "json", "Seen keys whose approval check passed."),
        Column("approval", "json", "Per seen key: status, message, collector and seq of its "
               "approval verdict (status not_judged: no verdict, e.g. not done)."),
        Column("ticket_populations", "json", "The ticket collectors the platform joins."),
        Column("ticket_evidence", "json", "The ticket evidence read ('<collector> seq N')."),
    )  # fmt: skip
    resource_column = "change"
    max_age = timedelta(days=2)
    app_register = True
    recorded_in = (
        "the latest github_pull_requests and ticket population (jira_changes, linear_changes) "
        "evidence, joined by pixaudit after each of their collections and daily"
    )

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Never pulled: the platform derives the rows from other collectors' evidence."""
        raise CollectorError(
            f"{self.key} cannot be collected: its rows are derived by pixaudit from "
            f"{self.recorded_in}",
            permanent=True,
        )

    @assertion(
        f"{_KEY}.ticket_in_population",
        title="Every production change links to a ticket seen in the ticket population",
        severity=Severity.MEDIUM,
        remediation="Cite the change ticket's key in the pull request's title or branch; when "
        "the ticket exists but is not seen, widen the ticket collector's population "
        "(jira_changes: a jql such as key in (...), or the ticket's project; linear_changes: "
        "the issue's team in team_keys, a longer window_days) and collect it again.",
        controls=_CONTROLS,
        rationale="A change linked to a ticket that the ticket evidence shows ties the "
        "deployed change to its authorisation record (CC8.1 authorises changes; A.8.32 "
        "subjects changes to change management procedures).",
    )
    def ticket_in_population(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when a cited key is in a ticket population; WARN when none is (not seen, not
        "does not exist"); FAIL when the change cites no key; ERROR without ticket evidence."""
        cited = row["cited_keys"] or []
        if not row["ticket_evidence"]:
            return _no_population(row)
        if not cited:
            return Outcome(Status.FAIL, f"{row['change']} cites no ticket key, so it links to "
                           "no change ticket.")  # fmt: skip
        seen = row["keys_seen"] or []
        unseen = [k for k in cited if k not in seen]
        if seen:
            extra = f"; not seen: {', '.join(unseen)}" if unseen else ""
            return Outcome(Status.PASS, f"{', '.join(seen)} in the ticket population "
                           f"({_sources(row)}){extra}.")  # fmt: skip
        populations = row["ticket_populations"] or []
        return Outcome(Status.WARN, (
            f"{', '.join(cited)} not seen in the ticket population ({_sources(row)}). This "
            "does not mean the ticket does not exist: it may have been last updated before "
            "the population's window, or belong to a project the population does not read. "
            f"To make it seen, collect {_how_to_see(populations, cited)}."
        ))  # fmt: skip

    @assertion(
        f"{_KEY}.ticket_approved",
        title="The linked ticket was approved before it was done",
        severity=Severity.HIGH,
        remediation="Approve change tickets before they are done (the Approved step of the "
        "workflow, by someone other than the assignee), and review the change whose ticket "
        "was not.",
        controls=_CONTROLS,
        rationale="An approval recorded on the change ticket before the change was done shows "
        "the change was authorised before it was deployed (CC8.1, A.8.32).",
    )
    def ticket_approved(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
        """PASS when a seen cited ticket passed its population's approval check; else FAIL
        when one failed, ERROR when one could not be judged, WARN when none has a verdict
        yet (not done). A change citing no key fails (no approval can be shown); one whose
        tickets are not seen warns (not checked); ERROR without ticket evidence. Every change
        gets a verdict, so an earlier one never lingers in current state."""
        if not row["ticket_evidence"]:
            return _no_population(row)
        cited = row["cited_keys"] or []
        if not cited:
            return Outcome(Status.FAIL, f"{row['change']} cites no ticket, so no approval of "
                           "it can be shown.")  # fmt: skip
        seen = row["keys_seen"] or []
        if not seen:
            return Outcome(Status.WARN, f"Approval not checked: {', '.join(cited)} not seen in "
                           f"the ticket population ({_sources(row)}).")  # fmt: skip
        approval = row["approval"] or {}
        verdicts = {key: approval.get(key) or {"status": NOT_JUDGED} for key in seen}

        def said(status: str) -> list[str]:
            return [f"{key}: {v.get('message') or status} ({v.get('collector')} seq "
                    f"{v.get('seq')})" for key, v in verdicts.items()
                    if v.get("status") == status]  # fmt: skip

        if passed := said("pass"):
            return Outcome(Status.PASS, "; ".join(passed))
        if failed := said("fail"):
            return Outcome(Status.FAIL, "; ".join(failed))
        if errors := said("error"):
            return Outcome(Status.ERROR, "Approval could not be judged: " + "; ".join(errors))
        waiting = [key for key, v in verdicts.items() if v.get("status") == NOT_JUDGED]
        other = said("warn")
        text = "; ".join([*other, *([f"{', '.join(waiting)}: no approval verdict yet (not "
                                     f"done in {_sources(row)}); judged once done"]
                                    if waiting else [])])  # fmt: skip
        return Outcome(Status.WARN, text + ".")
