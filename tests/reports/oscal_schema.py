"""Validate documents against the official OSCAL JSON schemas vendored in ``schemas/``.

The schemas' ``pattern`` keywords use Unicode property classes (``\\p{L}``, ``\\p{N}``) that
Python's ``re`` does not know; the validator here evaluates ``pattern`` with the ``regex``
module, which implements them, and leaves every other keyword to jsonschema's Draft 7.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema
import regex
from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

SCHEMAS = Path(__file__).parent / "schemas"


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


OscalValidator = jsonschema.validators.extend(Draft7Validator, {"pattern": _pattern})


@cache
def validator(model: str) -> Draft7Validator:
    schema = json.loads((SCHEMAS / f"oscal_{model}_schema.json").read_text(encoding="utf-8"))
    return OscalValidator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)


def errors(document: dict, model: str) -> list[str]:
    return [
        f"{e.json_path}: {e.message[:300]}"
        for e in sorted(validator(model).iter_errors(document), key=lambda e: e.json_path)
    ]
