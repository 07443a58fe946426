"""Real storage faults for the reliability tests: a tiny tmpfs that fills up, or turns read-only.

Mounting needs root (CAP_SYS_ADMIN); where it is not allowed the tests that need it skip and
say why. Every mount is undone when the test ends, whatever happened.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, check=False)


@contextmanager
def small_tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a ``size_bytes`` tmpfs on ``path`` for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0755", "tmpfs", str(path))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up (needs root): {done.stderr.strip()}")
    try:
        yield path
    finally:
        if _run("umount", str(path)).returncode != 0:
            _run("umount", "-l", str(path))


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def fill(path: Path, leave: int) -> Path:
    """Write a filler file so that only about ``leave`` bytes stay free; returns it."""
    filler = path / "filler.bin"
    size = max(free_bytes(path) - leave, 0)
    with open(filler, "wb") as fh:
        fh.write(b"\0" * size)
    return filler


def remount(path: Path, mode: str) -> None:
    """``mode`` is ``ro`` or ``rw``."""
    done = _run("mount", "-o", f"remount,{mode}", str(path))
    if done.returncode != 0:
        pytest.skip(f"cannot remount {path} {mode}: {done.stderr.strip()}")


def files_under(path: Path, *, skip: tuple[str, ...] = ("filler.bin",)) -> list[str]:
    """Every file below ``path`` (relative), partial files included, fillers excluded."""
    if not path.exists():
        return []
    return sorted(
        str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and p.name not in skip
    )
