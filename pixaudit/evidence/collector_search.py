"""Find the assertions and collectors that already check something, by words.

Before writing an assertion, look for one that checks the same thing (``manage.py
collectors --search hsts``): a second check with different thresholds would make two
findings about one fact disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collectors import Assertion, Collector


@dataclass(frozen=True)
class SearchMatch:
    """One assertion (or collector) that mentions every searched word, and what it says."""

    name: str
    title: str
    details: tuple[str, ...]


def _assertion_text(cls: type[Collector], a: Assertion) -> str:
    thresholds = " ".join(f"{p.name} {p.help}" for p in a.params)
    return " ".join(
        [a.id, a.title, a.description, a.remediation, a.rationale, thresholds, *a.controls]
    )


def _collector_text(cls: type[Collector]) -> str:
    columns = " ".join(f"{c.name} {c.description}" for c in cls.columns)
    return " ".join([cls.key, cls.title, cls.description(), columns])


def _matches(text: str, words: list[str]) -> bool:
    lowered = text.lower()
    return all(word in lowered for word in words)


def search_collectors(classes: Sequence[type[Collector]], query: str) -> list[SearchMatch]:
    """Assertions, then collectors (by their columns and description), matching every word.

    A collector is listed on its own only when none of its assertions matched, so a hit on a
    column (``hsts_max_age``) still leads to the collector that records it.
    """
    words = [word.lower() for word in query.split()]
    assertions: list[SearchMatch] = []
    collectors: list[SearchMatch] = []
    for cls in classes:
        hits = [a for a in cls.assertions if _matches(_assertion_text(cls, a), words)]
        for a in hits:
            details = [f"collector: {cls.key} ({cls.title}), severity {a.severity}"]
            details += [
                f"threshold: {p.name}={p.default}" + (f" ({p.help})" if p.help else "")
                for p in a.params
            ]
            details.append(f"controls: {', '.join(a.controls)}")
            if a.rationale:
                details.append(f"why: {a.rationale}")
            assertions.append(SearchMatch(a.id, a.title, tuple(details)))
        if not hits and _matches(_collector_text(cls), words):
            columns = [c.name for c in cls.columns if _matches(f"{c.name} {c.description}", words)]
            details = [f"columns: {', '.join(columns)}"] if columns else []
            details.append(f"assertions: {', '.join(a.id for a in cls.assertions) or '-'}")
            collectors.append(SearchMatch(cls.key, cls.title, tuple(details)))
    return sorted(assertions, key=lambda m: m.name) + sorted(collectors, key=lambda m: m.name)
