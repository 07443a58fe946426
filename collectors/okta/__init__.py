"""Okta collectors (Okta management REST API)."""

from __future__ import annotations
