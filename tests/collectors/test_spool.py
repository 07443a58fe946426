"""collectors.spool: the disk-backed records and external sort the runner streams through."""

from __future__ import annotations

import json
import random

import pytest

from collectors.spool import RecordFile, SortedSpool


def test_a_record_file_reads_back_in_order_and_by_index():
    records = RecordFile(json.loads)
    values = [{"i": i, "text": "é" * (i % 7)} for i in range(3000)]  # past the write buffer
    for value in values:
        records.append(json.dumps(value, ensure_ascii=False).encode())
    assert len(records) == 3000
    assert list(records) == values
    assert records[0] == values[0] and records[-1] == values[-1] and records[1234] == values[1234]
    assert records[10:13] == values[10:13]
    with pytest.raises(IndexError):
        records[3000]
    # Every access decodes afresh: changing what was read changes nothing on disk.
    first = records[0]
    first["i"] = "changed"
    assert records[0] == {"i": 0, "text": ""}


def test_a_record_may_not_hold_a_newline():
    with pytest.raises(ValueError, match="newline"):
        RecordFile().append(b"a\nb")
    with pytest.raises(ValueError, match="newline"):
        SortedSpool().add(b"a\nb")


@pytest.mark.parametrize("run_bytes", [200, 5000, 10**9])
def test_the_external_sort_orders_like_sorted(run_bytes):
    rng = random.Random(run_bytes)
    records = [bytes(rng.choices(b"abcxyz\xc3\xa9", k=rng.randint(0, 12))) for _ in range(2000)]
    spool = SortedSpool(run_bytes=run_bytes)
    for record in records:
        spool.add(record)
    assert len(spool) == 2000
    assert (spool.runs > 10) == (run_bytes < 10**9)  # many runs on disk, or none
    assert list(spool.sorted()) == sorted(records)


def test_the_external_sort_takes_a_key_and_keeps_equal_keys_in_order():
    # Lists of strings order by code point, element by element; their JSON text does not
    # ('["a!"]' sorts before '["a"]' as bytes), so the findings digest sorts by the value.
    rows = [["a!", "1"], ["a", "2"], ["a", "1"], ["b", "0"], ["a", "1"]]
    spool = SortedSpool(key=json.loads, run_bytes=60)
    for index, row in enumerate(rows):
        spool.add(json.dumps([*row, str(index)]).encode())
    ordered = [json.loads(r) for r in spool.sorted()]
    assert ordered == sorted([*row, str(i)] for i, row in enumerate(rows))
    assert spool.runs > 1


def test_an_empty_spool_sorts_to_nothing():
    assert list(SortedSpool().sorted()) == []


def test_more_runs_than_a_merge_takes_are_merged_in_passes(monkeypatch):
    import collectors.spool as spool_module

    monkeypatch.setattr(spool_module, "_FAN_IN", 3)
    spool = SortedSpool(key=lambda r: r[:1], run_bytes=100)
    records = [f"{'abc'[i % 3]}{i:04d}".encode() for i in range(300)]
    for record in records:
        spool.add(record)
    assert spool.runs > 3 * 3  # at least two passes
    # Sorted by the first letter only: equal keys keep the order they were added in.
    assert list(spool.sorted()) == sorted(records, key=lambda r: r[:1])
