"""Template filters for collector-written text (see ``pixaudit.lib.text``).

``{{ a.remediation|inline_code }}`` shows Markdown code spans as ``<code>`` (everything else
escaped); ``{{ value|value_text }}`` prints a threshold value without Python spellings.
"""

from __future__ import annotations

from django import template

from pixaudit.lib.text import inline_code_html, value_text

register = template.Library()

register.filter("inline_code", inline_code_html, is_safe=True)
register.filter("value_text", value_text)
