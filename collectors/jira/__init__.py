"""Jira collectors (Jira Cloud platform REST API v3)."""

from __future__ import annotations
