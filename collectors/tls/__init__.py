"""TLS collectors: what real endpoints negotiate, checked with the standard library ``ssl``."""

from __future__ import annotations
