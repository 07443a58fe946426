"""Cursor pagination on a unique key (stable under concurrent appends, no OFFSET scans)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination

__all__ = ["IdCursorPagination"]


class IdCursorPagination(CursorPagination):
    """Newest first by id; ``?page_size=`` up to 1,000 (default 100); ``next`` links."""

    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
