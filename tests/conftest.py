"""Suite-wide fixtures: a network guard and access to the real services."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

_real_getaddrinfo = socket.getaddrinfo


def _is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host)
    if host in ("localhost", "localhost.localdomain", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _guarded_getaddrinfo(host, *args, **kwargs):
    # Tests never reach the internet: a name that is not loopback fails here, at once, with
    # a message that says why, instead of hanging on DNS or reaching a real service.
    if not _is_local(host):
        raise OSError(f"test network guard: refusing to resolve non-local host {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _network_guard():
    socket.getaddrinfo = _guarded_getaddrinfo
    yield
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _fresh_chain_checkpoints():
    """Signed checkpoints pin the database's chain; every test starts from an empty
    database, so it starts without the default store's checkpoints of earlier tests (tests
    with their own ``media_root`` have their own store anyway)."""
    import shutil

    from django.conf import settings

    shutil.rmtree(Path(settings.MEDIA_ROOT) / "evidence" / "checkpoints", ignore_errors=True)
    yield
