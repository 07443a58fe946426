"""Text written by collectors and catalogs, shown as text: code spans and parameter values.

Collector remediation texts use Markdown code spans (```aws s3api ...```) because the same
declarations feed the generated Markdown docs. Pages and PDFs must show them as code, not
as literal backticks, and must never trust them as HTML: :func:`inline_code_html` escapes
everything and only then wraps code spans in ``<code>``. Threshold values are Python
values; :func:`value_text` prints them the way a reader expects (no ``None``/``True``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: A code span: a run of backticks, then the shortest text up to a run of the same length.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)


def inline_code_html(text: Any) -> SafeString:
    """``text`` as safe HTML: everything escaped, code spans as ``<code>`` elements."""
    text = "" if text is None else str(text)
    out: list[str] = []
    position = 0
    for match in _CODE_SPAN.finditer(text):
        out.append(escape(text[position : match.start()]))
        code = match.group(2)
        if code.startswith(" ") and code.endswith(" ") and code.strip():
            code = code[1:-1]  # CommonMark: one space of padding is stripped
        out.append(f"<code>{escape(code)}</code>")
        position = match.end()
    out.append(escape(text[position:]))
    return mark_safe("".join(out))  # noqa: S308 - every piece above is escaped


def plain_text(text: Any) -> str:
    """``text`` with code-span backticks removed (for CSV, e-mail and other plain text)."""
    text = "" if text is None else str(text)
    return _CODE_SPAN.sub(lambda m: m.group(2), text)


def value_text(value: Any) -> str:
    """A parameter or threshold value for people: ``not set``, ``yes``/``no``, lists joined."""
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(value_text(v) for v in value) if value else "none"
    if isinstance(value, Mapping):
        if not value:
            return "none"
        return ", ".join(f"{k}: {value_text(v)}" for k, v in value.items())
    return str(value)
