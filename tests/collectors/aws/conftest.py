"""Fixtures of the AWS collector tests: moto in-process, and botocore hooks that deny or fake.

moto does not enforce IAM, so an AccessDenied is simulated with a ``before-call`` hook on
the boto3 session the context uses (``aws_session_factory``); the same hook can answer an
operation moto lacks (e.g. ``ListBackupSelections``) or cannot set up (root MFA).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

#: Two regions keep the tests fast; region discovery has its own test.
REGIONS = ["eu-west-1", "us-east-1"]
PARAMS: dict[str, Any] = {"regions": REGIONS}


class _Http:
    status_code = 200
    headers: dict[str, str] = {}


def session_factory(
    *,
    deny: tuple[str, ...] = (),
    fake: Mapping[str, Any] | None = None,
    code: str = "AccessDenied",
    regions: tuple[str, ...] | None = None,
) -> Callable[[str | None], Any]:
    """An ``aws_session_factory`` whose clients fail ``deny`` operations with ``code``.

    ``fake`` maps operation names (``"ListBackupSelections"``) to a parsed response, or to a
    callable ``(params) -> response``. ``regions`` limits the denial to those regions.
    """
    import boto3.session
    from botocore.exceptions import ClientError

    fake = dict(fake or {})

    def factory(region: str | None) -> Any:
        session = boto3.session.Session(region_name=region)

        def hook(model: Any, params: Any, **_: Any) -> Any:
            if model.name in deny and (regions is None or region in regions):
                error = {"Error": {"Code": code, "Message": f"not authorized: {model.name}"}}
                raise ClientError(error, model.name)
            if model.name in fake:
                answer = fake[model.name]
                return _Http(), (answer(params) if callable(answer) else answer)
            return None

        session.events.register("before-call", hook)
        return session

    return factory


@pytest.fixture
def aws(aws_env: None) -> Iterator[None]:
    """moto's in-process AWS for the test (fresh state, fake credentials)."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def hooked() -> Callable[..., Callable[[str | None], Any]]:
    """:func:`session_factory`, for tests: ``run_collector(..., aws_session_factory=hooked(
    deny=("GetBucketPolicy",)))``."""
    return session_factory
