"""``{% load pixaudit_perms %}`` then ``{% if user|can:"engagements.manage" %}``."""

from __future__ import annotations

from typing import Any

from django import template

from pixaudit.accounts import permissions

register = template.Library()


@register.filter(name="can")
def can(user: Any, action: str) -> bool:
    return permissions.can(user, action)


@register.filter(name="mfa_pending")
def mfa_pending(request: Any) -> bool:
    """``{% if request|mfa_pending %}``: signed in, but MFA enrolment/verification is due.

    Pages then show no navigation: nothing behind it is reachable until MFA is complete.
    """
    from pixaudit.accounts.mfa import mfa_pending as pending

    return request is not None and pending(request)
