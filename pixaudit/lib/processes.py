"""Which process runs something, and whether a recorded process still exists.

A run records the process executing it as ``host:pid`` plus a start token (the boot id and
the process's start time in clock ticks since boot, from ``/proc/<pid>/stat``). A pid alone
is not an identity: after a crash the kernel hands the same number to an unrelated process,
which would make a dead run look alive forever. Only processes on this host can be judged;
elsewhere the answer is :data:`ProcessState.UNKNOWN` and callers fall back to time limits.
Without ``/proc`` (macOS) the token is empty and the check degrades to the pid alone.
"""

from __future__ import annotations

import enum
import os
import socket
from functools import cache
from pathlib import Path

__all__ = ["ProcessState", "local_process_state", "process_identity", "process_start_token"]

_PROC = Path("/proc")


class ProcessState(enum.Enum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"  # another host, or nothing recorded: cannot be judged from here


@cache
def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()[:36]
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str] | None:
    # /proc/<pid>/stat: "pid (comm) state ppid ... starttime ..."; comm may hold spaces and
    # parentheses, so split after the last ")". Fields from "state" on are 3, 4, 5, ...
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def process_start_token(pid: int) -> str:
    """``<boot id>/<start time>`` of ``pid``, or ``""`` when it cannot be read (no /proc)."""
    fields = _stat_fields(pid)
    if not fields or len(fields) < 20:
        return ""
    return f"{_boot_id()}/{fields[19]}"  # field 22: starttime


def process_identity() -> tuple[str, str]:
    """This process as ``("host:pid", start token)``."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}"[:200], process_start_token(pid)


def local_process_state(worker: str, start_token: str = "") -> ProcessState:
    """Whether the process recorded as ``worker`` (``host:pid``) and ``start_token`` exists.

    DEAD when it is on this host and its pid is gone, is a zombie, or now belongs to a process
    that started at another time (a reused pid). UNKNOWN for other hosts and empty records.
    """
    host, _, pid_text = (worker or "").rpartition(":")
    if not host or host != socket.gethostname() or not pid_text.isdigit():
        return ProcessState.UNKNOWN
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ProcessState.DEAD
    except PermissionError:
        pass  # it exists, under another user
    except OverflowError:
        return ProcessState.DEAD  # not a pid this system can have
    fields = _stat_fields(pid)
    if fields is None:
        # No /proc entry although kill() found it: gone in between, or no /proc at all.
        return ProcessState.DEAD if _PROC.is_dir() else ProcessState.ALIVE
    if fields[0] in ("Z", "X"):  # killed but not yet reaped by its parent
        return ProcessState.DEAD
    if start_token and start_token != process_start_token(pid):
        return ProcessState.DEAD
    return ProcessState.ALIVE
