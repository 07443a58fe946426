"""The published policy's verifiable lines, read from its text.

``data/data-protection-policy.txt`` is the policy as published (a copy of the public page).
:func:`policy_claims` lists the lines that promise something checkable: every bullet of the
technical measures, AI data handling, breach response and processor sections, each data
subject right, the data-rights response time, and the sentence saying where images are
processed. :func:`unbacked_claims` returns those no commitment names, by its statement or
its ``covers`` lines; a test keeps that list empty, so a new promise in the policy cannot go
unnoticed. The principles and certifications sections state intent, not checks, and are
left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

POLICY_PATH = Path(__file__).parent / "data" / "data-protection-policy.txt"

#: Top-level headings of the policy, in order (a line equal to one starts a section).
HEADINGS = (
    "Our Commitment to Data Protection",
    "Data Protection Principles",
    "Technical Security Measures",
    "AI Model Data Handling",
    "Data Subject Rights",
    "Data Breach Response",
    "Third-Party Data Processors",
    "Compliance and Certifications",
    "Contact Our Data Protection Officer",
)
#: Sections whose bullets are all verifiable claims.
CLAIM_SECTIONS = (
    "Technical Security Measures",
    "AI Model Data Handling",
    "Data Breach Response",
    "Third-Party Data Processors",
)
_BULLET = re.compile(r"^\s*[•*-]\s+(.+?)\s*$")
_RIGHT = re.compile(r"^(Right to [A-Z][a-z]+)$")
_RESPONSE_TIME = re.compile(r"^Response Time:\s*(.+?)\s*$")
_ISOLATION = re.compile(r"^[^:]+:\s*(Your images are processed in isolated environments)\b")


@dataclass(frozen=True)
class Claim:
    section: str
    text: str


def policy_claims(text: str | None = None) -> list[Claim]:
    """The policy's verifiable lines, in order (from ``text``, or the shipped copy)."""
    if text is None:
        text = POLICY_PATH.read_text(encoding="utf-8")
    claims: list[Claim] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line in HEADINGS:
            section = line
            continue
        found = None
        if section in CLAIM_SECTIONS:
            match = _BULLET.match(raw) or _ISOLATION.match(line)
            found = match.group(1) if match else None
        elif section == "Data Subject Rights":
            match = _RIGHT.match(line)
            found = match.group(1) if match else None
        elif section == "Contact Our Data Protection Officer":
            match = _RESPONSE_TIME.match(line)
            found = match.group(1) if match else None
        if found:
            claims.append(Claim(section, found))
    return claims


def _normal(text: str) -> str:
    return " ".join(text.lower().replace("’", "'").split())


def unbacked_claims(claims: Iterable[Claim], commitments: Iterable[dict]) -> list[Claim]:
    """Claims no commitment names: its ``statement`` contains the line, or a ``covers`` line
    equals it (case and spacing ignored). ``commitments`` are the file's entries."""
    statements, covered = [], set()
    for entry in commitments:
        statements.append(_normal(str(entry.get("statement") or "")))
        covered.update(_normal(line) for line in entry.get("covers") or [])
    return [
        claim
        for claim in claims
        if _normal(claim.text) not in covered
        and not any(_normal(claim.text) in statement for statement in statements)
    ]
