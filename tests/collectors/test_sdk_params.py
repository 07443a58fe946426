"""Param declarations: coercion, validation (all errors at once) and secret redaction."""

from __future__ import annotations

from typing import Any

import pytest

from collectors import Param, ParamError
from collectors.base import REDACTED, redact_params, validate_params

DECL = (
    Param("region", "string", required=True, help="AWS region."),
    Param("max_days", "integer", default=90),
    Param("ratio", "float", default=0.5),
    Param("strict", "boolean", default=False),
    Param("regions", "list", default=["us-east-1"]),
    Param("extra", "json"),
    Param("mode", "string", default="fast", choices=("fast", "full")),
    Param("token", "string", secret=True),
)


@pytest.mark.parametrize(
    ("ptype", "raw", "expected"),
    [
        ("string", "abc", "abc"),
        ("string", 12, "12"),
        ("integer", "42", 42),
        ("integer", " 7 ", 7),
        ("integer", 3.0, 3),
        ("float", "2.5", 2.5),
        ("float", 4, 4.0),
        ("boolean", "yes", True),
        ("boolean", "False", False),
        ("boolean", 1, True),
        ("boolean", "off", False),
        ("list", "a, b,,c ", ["a", "b", "c"]),
        ("list", ("x", "y"), ["x", "y"]),
        ("json", '{"a": [1, 2]}', {"a": [1, 2]}),
        ("json", [1, 2], [1, 2]),
    ],
)
def test_coerce_accepts_and_converts(ptype: str, raw: Any, expected: Any) -> None:
    assert Param("p", ptype).coerce(raw) == expected


@pytest.mark.parametrize(
    ("ptype", "raw", "fragment"),
    [
        ("integer", "12a", "not a whole number"),
        ("integer", 2.5, "whole number"),
        ("integer", True, "boolean"),
        ("float", "x", "not a number"),
        ("float", "inf", "finite"),
        ("boolean", "maybe", "not a boolean"),
        ("list", [1, 2], "strings"),
        ("json", "{bad", "invalid JSON"),
        ("json", '"just a string"', "object or array"),
        ("string", {"a": 1}, "expected a string"),
    ],
)
def test_coerce_rejects_with_clear_message(ptype: str, raw: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Param("p", ptype).coerce(raw)


def test_coerce_checks_choices_including_list_items() -> None:
    with pytest.raises(ValueError, match="not one of the allowed values"):
        Param("mode", choices=("a", "b")).coerce("c")
    with pytest.raises(ValueError, match="'z'"):
        Param("modes", "list", choices=("a", "b")).coerce("a,z")
    assert Param("modes", "list", choices=("a", "b")).coerce("b,a") == ["b", "a"]


def test_validate_fills_defaults_and_coerces() -> None:
    result = validate_params(DECL, {"region": "eu-west-1", "max_days": "30", "strict": "true"})
    assert result == {
        "region": "eu-west-1",
        "max_days": 30,
        "ratio": 0.5,
        "strict": True,
        "regions": ["us-east-1"],
        "extra": None,
        "mode": "fast",
        "token": None,
    }


def test_validate_reports_every_error_at_once() -> None:
    with pytest.raises(ParamError) as info:
        validate_params(
            DECL,
            {"max_days": "soon", "mode": "slow", "bogus": 1, "strict": "perhaps"},
        )
    errors = info.value.errors
    assert set(errors) == {"region", "max_days", "mode", "bogus", "strict"}
    assert errors["region"] == "This parameter is required."
    assert errors["bogus"] == "Unknown parameter."
    assert "slow" in errors["mode"]
    assert "max_days" in str(info.value)


def test_blank_values_count_as_missing() -> None:
    with pytest.raises(ParamError) as info:
        validate_params(DECL, {"region": "   "})
    assert set(info.value.errors) == {"region"}
    assert validate_params(DECL, {"region": "r", "max_days": ""})["max_days"] == 90


def test_mutable_defaults_are_not_shared() -> None:
    first = validate_params(DECL, {"region": "r"})
    first["regions"].append("mutated")
    assert validate_params(DECL, {"region": "r"})["regions"] == ["us-east-1"]


def test_redact_params_hides_only_set_secrets() -> None:
    values = {"region": "r", "token": "ghp_secret", "mode": "fast"}
    assert redact_params(DECL, values) == {"region": "r", "token": REDACTED, "mode": "fast"}
    assert redact_params(DECL, {"token": None}) == {"token": None}
    assert redact_params(DECL, {"token": ""}) == {"token": ""}


def test_describe_never_exposes_secret_default() -> None:
    described = Param("token", secret=True, default="oops").describe()
    assert described["default"] is None
    assert described["secret"] is True
