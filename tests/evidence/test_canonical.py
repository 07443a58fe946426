from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from collectors import Status
from pixaudit.evidence.canonical import CanonicalFormError, canonical_bytes, sha256_hex


@pytest.mark.smoke
def test_keys_sorted_compact_utf8():
    assert canonical_bytes({"b": 1, "a": [1, 2], "é": "ü"}) == (
        '{"a":[1,2],"b":1,"é":"ü"}'.encode()
    )
    assert canonical_bytes({"b": {"d": 1, "c": 2}}) == b'{"b":{"c":2,"d":1}}'


def test_same_input_same_bytes_regardless_of_insertion_order():
    one = {"x": 1, "y": [{"q": 1, "p": 2}], "z": None}
    two = {"z": None, "y": [{"p": 2, "q": 1}], "x": 1}
    assert canonical_bytes(one) == canonical_bytes(two)
    assert sha256_hex(canonical_bytes(one)) == sha256_hex(canonical_bytes(two))


def test_datetimes_are_utc_with_fixed_format():
    cet = timezone(timedelta(hours=1))
    assert canonical_bytes(datetime(2026, 3, 1, 13, 0, tzinfo=cet)) == (
        b'"2026-03-01T12:00:00.000000Z"'
    )
    assert canonical_bytes(datetime(2026, 3, 1, 12, 0, 0, 5, tzinfo=UTC)) == (
        b'"2026-03-01T12:00:00.000005Z"'
    )
    # naive = UTC (the SDK's contract)
    assert canonical_bytes(datetime(2026, 3, 1, 12)) == b'"2026-03-01T12:00:00.000000Z"'
    assert canonical_bytes(date(2026, 3, 1)) == b'"2026-03-01"'


def test_floats_and_decimals_are_stable():
    assert canonical_bytes([0.1, 1.0, 1e20, -0.0, 2.5e-7]) == b"[0.1,1.0,1e+20,0.0,2.5e-07]"
    assert canonical_bytes(0.1 + 0.2) == b"0.30000000000000004"
    assert canonical_bytes(Decimal("12.50")) == b'"12.50"'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), Decimal("NaN")])
def test_nan_and_infinity_rejected(bad):
    with pytest.raises(CanonicalFormError, match="NaN/Infinity"):
        canonical_bytes({"rows": [{"v": bad}]})


def test_sets_and_non_string_keys_rejected_tuples_and_enums_converted():
    with pytest.raises(CanonicalFormError, match="sets"):
        canonical_bytes({"a": {1, 2}})
    with pytest.raises(CanonicalFormError, match="keys must be strings"):
        canonical_bytes({1: "a"})
    with pytest.raises(CanonicalFormError, match="object has no canonical form"):
        canonical_bytes(object())
    assert canonical_bytes({"t": (1, "a"), "s": Status.FAIL, "b": True}) == (
        b'{"b":true,"s":"fail","t":[1,"a"]}'
    )


def test_spliced_list_equals_the_canonical_document():
    from pixaudit.evidence.canonical import canonical_bytes_with_list

    rows = [{"b": 1, "a": "é"}, {"a": None, "b": [1.5, {"z": True}]}]
    for key in ("rows", "aaa", "m"):
        document = {"zeta": 1, "alpha": {"k": "v"}, "n\u00e9": [1, 2]}
        expected = canonical_bytes({**document, key: rows})
        spliced = canonical_bytes_with_list(document, key, [canonical_bytes(r) for r in rows])
        assert spliced == expected
    assert canonical_bytes_with_list({}, "rows", []) == canonical_bytes({"rows": []})
