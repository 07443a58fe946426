"""Failed runs say what to do: error kinds from the SDK and the runner, mapped to advice."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError

from collectors import CollectorError, ErrorKind
from collectors.aws._common import to_collector_error
from pixaudit.evidence import run_errors
from pixaudit.evidence.run_errors import run_error_advice


@pytest.mark.parametrize("kind", sorted(ErrorKind.ALL | run_errors.RUNNER_KINDS))
def test_every_kind_has_advice_without_a_class_name(kind):
    advice = run_error_advice(kind=kind, collector_key="aws_s3_buckets")
    assert advice and advice[0].isupper() and advice.endswith(".")
    assert "Error" not in advice and "Exception" not in advice


def test_unknown_kind_gives_no_advice():
    assert run_error_advice(kind="", collector_key="aws_s3_buckets") == ""


def test_unreachable_aws_endpoint():
    exc = EndpointConnectionError(endpoint_url="https://sts.eu-west-9.amazonaws.com/")
    error = to_collector_error(exc, "sts:GetCallerIdentity")
    assert error.kind == ErrorKind.NETWORK and not error.permanent
    assert run_error_advice(kind=error.kind, collector_key="aws_iam_users") == (
        "The AWS endpoint could not be reached: check network access or the region."
    )


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("AccessDenied", ErrorKind.PERMISSION),
        ("InvalidClientTokenId", ErrorKind.CREDENTIALS),
        ("Throttling", ErrorKind.RATE_LIMITED),
        ("NoSuchBucket", None),
    ],
)
def test_aws_error_codes_have_kinds(code, kind):
    exc = ClientError({"Error": {"Code": code, "Message": "x"}}, "ListBuckets")
    assert to_collector_error(exc, "s3:ListAllMyBuckets").kind == kind


def test_no_region_is_a_configuration_error():
    assert to_collector_error(NoRegionError(), "sts:GetCallerIdentity").kind == "configuration"


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown error kind"):
        CollectorError("x", kind="nonsense")
