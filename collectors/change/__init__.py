"""Change-management collectors derived by the platform from other evidence (issue 19)."""

from __future__ import annotations
