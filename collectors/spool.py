"""Disk-backed records: a large collection sorted, evaluated and written without holding it.

The runner writes each row's canonical bytes to disk as the collector yields it, sorts them
there (:class:`SortedSpool`, an external merge sort: sorted runs of at most
:data:`RUN_BYTES` in memory, merged from disk) and gives the assertions a
:class:`RecordFile`: a read-only sequence that decodes one record at a time. The memory a
run needs then depends on :data:`RUN_BYTES` and on how many runs there are, not on how many
rows the population has.

A record is one line of bytes and may not contain ``b"\\n"``. Canonical JSON never does
(JSON escapes a newline inside a string), which is what every record written here is.
Files are anonymous temporary files (``TMPDIR`` decides where): they vanish when closed,
when the object holding them is garbage-collected, or when the process dies.
"""

from __future__ import annotations

import heapq
import os
import tempfile
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, overload

__all__ = [
    "RUN_BYTES",
    "RecordFile",
    "SortedSpool",
    "SpoolError",
    "on_disk",
    "temporary_file",
]

#: Bytes of records (with a per-record allowance for Python's object overhead) sorted in
#: memory before they are written out as one sorted run.
RUN_BYTES = 1024 * 1024
_RECORD_OVERHEAD = 48  # a bytes object's header and its slot in the list
#: Bytes read at a time from each run being merged.
_BLOCK = 64 * 1024
#: Runs merged at once: with more, groups of runs are first merged into longer runs, so a
#: merge never holds more than ``_FAN_IN`` blocks whatever the size of the input.
_FAN_IN = 32
_WRITE_BUFFER = 64 * 1024


class SpoolError(Exception):
    """A temporary file could not be created, written or read (no space, no directory)."""


@contextmanager
def on_disk(doing: str) -> Iterator[None]:
    """Turn an ``OSError`` of the block into a :class:`SpoolError` saying what to do."""
    # The OS error says what went wrong (no space, no such directory); the message says
    # where, that nothing was stored, and what to change.
    try:
        yield
    except OSError as exc:
        raise SpoolError(
            f"could not {doing} a temporary file in {tempfile.gettempdir()} "
            f"({exc.strerror or exc}); nothing was stored. Free space there or point TMPDIR "
            "at a directory with room for the largest collection."
        ) from exc


def temporary_file(prefix: str) -> Any:
    """An anonymous temporary file (``SpoolError`` when it cannot be created)."""
    with on_disk("create"):
        return tempfile.TemporaryFile(prefix=prefix)


def _checked(record: bytes) -> bytes:
    if b"\n" in record:
        raise ValueError("a record may not contain a newline")
    return record


def _read_lines(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The newline-terminated records stored in ``[start, end)`` of ``fd``, in order."""
    position, tail = start, b""
    while position < end:
        with on_disk("read"):
            block = os.pread(fd, min(_BLOCK, end - position), position)
        if not block:
            raise OSError(f"spool file ended at {position:,}, expected {end:,} bytes")
        position += len(block)
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail:
        raise OSError("spool file holds a record without its newline")


class RecordFile(Sequence):
    """Records appended to a temporary file, read back as a sequence of decoded values.

    ``append`` takes the record's bytes; iterating (or indexing) returns ``decode(bytes)``,
    a fresh value on every access, so a caller may change what it gets without changing the
    file. Only the records' offsets stay in memory (8 bytes each).
    """

    def __init__(self, decode: Callable[[bytes], Any] | None = None):
        self._file = temporary_file("pixaudit-records-")
        self._decode = decode or bytes
        self._starts = array("q")
        self._end = 0
        self._buffer: list[bytes] = []
        self._buffered = 0

    def append(self, record: bytes) -> None:
        """Add one record (bytes without a newline) at the end."""
        record = _checked(record)
        self._starts.append(self._end)
        self._end += len(record) + 1
        self._buffer.append(record)
        self._buffered += len(record) + 1
        if self._buffered >= _WRITE_BUFFER:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._buffer.append(b"")
            with on_disk("write"):
                self._file.write(b"\n".join(self._buffer))
                self._file.flush()
            self._buffer, self._buffered = [], 0

    def raw(self) -> Iterator[bytes]:
        """The records' bytes in order, undecoded."""
        self._flush()
        yield from _read_lines(self._file.fileno(), 0, self._end)

    def __iter__(self) -> Iterator[Any]:
        decode = self._decode
        for record in self.raw():
            yield decode(record)

    def __len__(self) -> int:
        return len(self._starts)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        count = len(self._starts)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError("record index out of range")
        self._flush()
        start = self._starts[index]
        end = self._starts[index + 1] if index + 1 < count else self._end
        return self._decode(os.pread(self._file.fileno(), end - start - 1, start))

    def close(self) -> None:
        """Remove the file now (it is also removed when the object is collected)."""
        self._file.close()


class SortedSpool:
    """An external merge sort of records added in any order.

    ``key`` orders the records (default: their bytes). Up to :data:`RUN_BYTES` of records
    are sorted in memory, then written out as one sorted run; :meth:`sorted` merges the
    runs, reading each one block by block. Equal keys keep the order they were added in.
    """

    def __init__(self, key: Callable[[bytes], Any] | None = None, *, run_bytes: int = 0):
        self._key = key
        self._run_bytes = run_bytes or RUN_BYTES
        self._file: Any = None
        self._runs: list[tuple[int, int]] = []
        self._end = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._count = 0

    def add(self, record: bytes) -> None:
        """Add one record (bytes without a newline)."""
        self._pending.append(_checked(record))
        self._pending_bytes += len(record) + _RECORD_OVERHEAD
        self._count += 1
        if self._pending_bytes >= self._run_bytes:
            self._write_run()

    def __len__(self) -> int:
        return self._count

    @property
    def runs(self) -> int:
        """How many sorted runs were written to disk so far."""
        return len(self._runs)

    def _write_run(self) -> None:
        if not self._pending:
            return
        if self._file is None:
            self._file = temporary_file("pixaudit-sort-")
        self._pending.sort(key=self._key)
        self._pending.append(b"")
        data = b"\n".join(self._pending)
        with on_disk("write"):
            self._file.write(data)
            self._file.flush()
        self._runs.append((self._end, self._end + len(data)))
        self._end += len(data)
        self._pending, self._pending_bytes = [], 0

    def sorted(self) -> Iterator[bytes]:
        """Every record added, in order (a spool is read once; it is closed afterwards)."""
        if not self._runs:
            pending, self._pending = self._pending, []
            pending.sort(key=self._key)
            yield from pending
            return
        self._write_run()
        try:
            while len(self._runs) > _FAN_IN:
                self._merge_first_runs()
            yield from self._merged(self._runs)
        finally:
            self.close()

    def _merged(self, runs: list[tuple[int, int]]) -> Iterator[bytes]:
        fd = self._file.fileno()
        return heapq.merge(*(_read_lines(fd, start, end) for start, end in runs), key=self._key)

    def _merge_first_runs(self) -> None:
        """Merge the first ``_FAN_IN`` runs into one run written at the end of the file."""
        group, self._runs = self._runs[:_FAN_IN], self._runs[_FAN_IN:]
        start = self._end
        buffer: list[bytes] = []
        buffered = 0
        with on_disk("write"):
            self._file.seek(start)
            for record in self._merged(group):
                buffer.append(record)
                buffered += len(record) + 1
                if buffered >= _BLOCK:
                    buffer.append(b"")
                    self._file.write(b"\n".join(buffer))
                    buffer, buffered = [], 0
            if buffer:
                buffer.append(b"")
                self._file.write(b"\n".join(buffer))
            self._file.flush()
            self._end = self._file.tell()
        self._runs.insert(0, (start, self._end))  # first: equal keys keep their order

    def close(self) -> None:
        """Drop what the spool holds (memory and file)."""
        self._pending = []
        if self._file is not None:
            self._file.close()
            self._file = None
