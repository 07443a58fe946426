"""lint_collector: a clean collector passes; every rule reports a readable problem."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors import CollectionContext, Collector, Column, Param, Severity, assertion
from collectors.lint import lint_collector, structural_problems


class GoodCollector(Collector):
    """A clean collector."""

    key = "aws_good_things"
    title = "Good things"
    params = (
        Param("role_arn", help="Role to assume.", destination=True),
        Param("secret", secret=True),
    )
    permissions = ("s3:ListAllMyBuckets",)
    columns = (Column("arn", "string", "ARN."), Column("ok", "boolean", "Whether ok."))
    resource_column = "arn"
    max_age = timedelta(days=1)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Nothing."""
        return []

    @assertion(
        "aws_good_things.ok",
        title="Things are ok",
        severity=Severity.HIGH,
        remediation="Make it ok.",
        controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
        rationale="Things that are ok protect the data the controls are about.",
    )
    def ok(row: dict[str, Any], params: dict[str, Any]) -> None:
        """Nothing."""
        return None


class BadCollector(Collector):
    key = "Bad-Key"
    title = ""
    version = 0
    params = (
        Param("token", secret=True, default="hunter2"),
        Param("token"),
        Param("kind", "enum"),
        Param("mode", default="x", choices=("a", "b")),
        Param("n", "integer", choices=("one",)),
    )
    columns = (
        Column("arn", "text", ""),
        Column("arn", "string", "dup"),
        Column("Bad Name", "string", "x"),
    )
    resource_column = "id"
    max_age = timedelta(0)

    def collect(self, ctx: CollectionContext) -> list[dict[str, Any]]:
        """Nothing."""
        return []

    @assertion("other.thing", title="", severity="fatal", remediation="", controls=("soc2:CC6.1",))
    def thing(row: dict[str, Any], params: dict[str, Any]) -> None:
        return None

    @assertion("other.thing", title="t", severity="low", remediation="r", controls=())
    def thing_again(row: dict[str, Any], params: dict[str, Any]) -> None:
        return None


class AwsWithoutPermissions(GoodCollector):
    """An AWS collector that forgot its permissions."""

    permissions = ()


def test_clean_collector_has_no_problems() -> None:
    assert lint_collector(GoodCollector) == []
    assert structural_problems(GoodCollector) == []


def test_every_rule_is_reported() -> None:
    problems = "\n".join(lint_collector(BadCollector))
    expected = [
        "key 'Bad-Key' must match",
        "title is empty",
        "docstring is missing",
        "version 0 must be an int >= 1",
        "column 'arn' is declared more than once",
        "resource_column 'id' is not a declared column",
        "column 'arn': dtype 'text' is not one of",
        "column 'arn': description is empty",
        "column 'Bad Name': name must match",
        "param 'token': a secret param must not have a default",
        "param 'token' is declared more than once",
        "param 'kind': type 'enum' is not one of",
        "param 'mode': default 'x' is invalid",
        "param 'n': choice 'one' is not a valid integer",
        "max_age must be a positive timedelta",
        "assertion id 'other.thing' is declared more than once",
        "assertion id 'other.thing' must start with 'Bad-Key.'",
        "assertion 'other.thing': severity 'fatal' is not a Severity",
        "assertion 'other.thing': remediation is empty",
        "assertion 'other.thing': title is empty",
        "assertion 'other.thing': control id 'soc2:CC6.1' must match",
        "assertion 'other.thing': maps to no control",
        "assertion 'other.thing': rationale is empty (say why the check supports its controls",
    ]
    missing = [e for e in expected if e not in problems]
    assert missing == [], problems


def test_aws_collector_needs_permissions() -> None:
    assert lint_collector(AwsWithoutPermissions) == [
        "permissions must be declared for an aws collector"
    ]


def test_known_controls_are_checked_when_given() -> None:
    assert lint_collector(GoodCollector, known_controls={"soc2-2017:CC6.1"}) == [
        "assertion 'aws_good_things.ok': control id 'iso27001-2022:A.8.24' is not in any "
        "loaded catalog"
    ]
    assert (
        lint_collector(GoodCollector, known_controls={"soc2-2017:CC6.1", "iso27001-2022:A.8.24"})
        == []
    )


def test_not_a_collector() -> None:
    assert lint_collector(object) == [f"{object!r} is not a Collector subclass"]


def test_rationale_is_required_because_auditors_read_it() -> None:
    class NoRationale(GoodCollector):
        """A collector whose assertion does not say why it maps to its controls."""

        @assertion(
            "aws_good_things.ok",
            title="Things are ok",
            severity=Severity.HIGH,
            remediation="Make it ok.",
            controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.24"),
            rationale="   ",
        )
        def ok(row: dict[str, Any], params: dict[str, Any]) -> None:
            """Nothing."""
            return None

    assert lint_collector(NoRationale) == [
        "assertion 'aws_good_things.ok': rationale is empty (say why the check supports its "
        "controls: auditors read it next to every finding)"
    ]


class TokenToAnyHost(GoodCollector):
    """A collector with a secret whose URL and host params are not declared destinations."""

    params = (
        Param("base_url", help="API root."),
        Param("api_host", help="Host."),
        Param("port", "integer", help="Port."),
        Param("org", help="Not a destination."),
        Param("token", secret=True),
    )


class NoSecretsAnyHost(GoodCollector):
    """Without secrets there is nothing to send elsewhere: a plain URL param is fine."""

    params = (Param("base_url", help="API root."),)


def test_url_and_host_params_of_a_collector_with_secrets_must_be_destinations() -> None:
    problems = lint_collector(TokenToAnyHost)
    assert problems == [
        f"param {name!r} looks like a URL, host or ARN of a collector with secrets: declare "
        "it destination=True so that changing it requires re-entering the secrets"
        for name in ("base_url", "api_host", "port")
    ]
    assert lint_collector(NoSecretsAnyHost) == []
