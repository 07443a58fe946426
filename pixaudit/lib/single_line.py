"""Single-line text: names and titles that end up in e-mail headers, file names and PDFs.

A CR or LF in an engagement name once broke the invitation e-mail (Django refuses header
values with line breaks). :func:`validate_single_line` refuses control characters in input;
:func:`header_text` makes any stored text (older rows included) safe for a header.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError

__all__ = ["control_characters", "header_text", "validate_single_line"]

# Bidirectional overrides and isolates reorder what a reader sees ("Trojan source").
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_control(char: str) -> bool:
    # Cc: C0/C1 controls (CR, LF, TAB, NUL, NEL ...); Zl/Zp: Unicode line/paragraph separators.
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


def control_characters(value: str) -> list[str]:
    """The distinct control characters in ``value``, as ``U+XXXX`` names, in order."""
    seen: list[str] = []
    for char in value or "":
        name = f"U+{ord(char):04X}"
        if _is_control(char) and name not in seen:
            seen.append(name)
    return seen


def validate_single_line(value: str) -> None:
    """Django validator: no line breaks, tabs or other control characters."""
    found = control_characters(value)
    if found:
        raise ValidationError(
            "Use a single line of text: remove the line break or control character "
            f"({', '.join(found)}).",
            code="control_character",
        )


def header_text(value: str, max_length: int = 200) -> str:
    """``value`` on one line (each run of control characters becomes one space), trimmed."""
    text = "".join(" " if _is_control(c) else c for c in str(value or ""))
    text = re.sub(r" {2,}", " ", text).strip()
    return text if len(text) <= max_length else text[: max_length - 1] + "…"
