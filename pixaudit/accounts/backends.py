"""Authentication backend that refuses locked usernames and addresses before any password check."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from pixaudit.accounts.lockout import login_lockout_active
from pixaudit.auditlog.services import client_ip


class LockoutModelBackend(ModelBackend):
    """``ModelBackend`` + lockout: applies to every ``authenticate()`` call, admin included."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
        **kwargs: Any,
    ):  # fmt: skip
        if username is None:
            username = kwargs.get(self._username_field(), "")
        if login_lockout_active(username=username or "", ip=client_ip(request)) is not None:
            # PermissionDenied stops authenticate() and sends user_login_failed, which
            # records the refusal in the audit log without extending the lockout.
            raise PermissionDenied("locked")
        return super().authenticate(request, username=username, password=password, **kwargs)

    @staticmethod
    def _username_field() -> str:
        from django.contrib.auth import get_user_model

        return get_user_model().USERNAME_FIELD
