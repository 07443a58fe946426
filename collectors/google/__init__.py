"""Google collectors (Google Workspace Admin SDK)."""

from __future__ import annotations
