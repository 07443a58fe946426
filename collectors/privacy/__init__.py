"""Privacy collectors: evidence of the data-subject request register (pixaudit.privacy)."""

from __future__ import annotations
