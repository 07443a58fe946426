"""Fixtures shared by collector tests (SDK and built-ins); no Django needed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collectors import registry


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake AWS credentials and region for moto; no profile or endpoint leaks in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture
def clean_registry() -> Iterator[None]:
    """Rescan after the test so temporary modules, paths or plugins leave no trace."""
    before = {cls.key: cls for cls in registry.all_collectors()}
    yield
    for cls in registry.all_collectors():
        if before.get(cls.key) is not cls:
            registry.unregister(cls.key)
    registry.discover(refresh=True)
