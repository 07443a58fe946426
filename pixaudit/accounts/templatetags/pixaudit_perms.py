"""``{% load pixaudit_perms %}`` then ``{% if user|can:"engagements.manage" %}``."""

from __future__ import annotations

from typing import Any

from django import template

from pixaudit.accounts import permissions

register = template.Library()


@register.filter(name="can")
def can(user: Any, action: str) -> bool:
    return permissions.can(user, action)
