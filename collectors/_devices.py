"""The common shape and checks of endpoint-device populations (laptops and desktops).

Device-management collectors (``fleet_hosts``, ``jamf_computers``) return one row per device
with these columns first, so that the same four checks read the same way whatever the
source: disk encrypted, screen lock enforced, operating system at or above a minimum
version, and checked in recently. Each collector declares its own assertions (their ids
carry its key) and delegates the verdict to the functions here, so the wording and the
unknown-is-ERROR rule are the same everywhere.

A value the source did not report is ``None`` and gives ERROR, never PASS: a laptop whose
encryption state nobody knows is not evidence of encryption.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from collectors import vulnerabilities
from collectors.base import Column, Outcome, Param, Status

__all__ = [
    "CHECKED_IN",
    "DEFAULT_MINIMUM_OS_VERSIONS",
    "DEVICE_COLUMNS",
    "DEVICE_COLUMN_NAMES",
    "DISK_ENCRYPTION",
    "MAX_DAYS_SINCE_SEEN",
    "MINIMUM_OS_PARAM",
    "OS_SUPPORTED",
    "SCREEN_LOCK",
    "checked_in_outcome",
    "days_since",
    "encrypted_outcome",
    "os_version_number",
    "os_version_outcome",
    "parse_time",
    "screen_lock_outcome",
]

DEVICE_COLUMNS: tuple[Column, ...] = (
    Column("device_id", "string", "Stable identifier of the device at its source"),
    Column("name", "string", "Device name as the source shows it"),
    Column("serial_number", "string", "Hardware serial number (null: not reported)"),
    Column("platform", "string", "Operating-system family: macos, windows, ubuntu, rhel, ..."),
    Column("os_name", "string", "Operating system as reported, e.g. 'macOS 14.4.1'"),
    Column("os_version", "string", "Numeric version read from os_name, e.g. '14.4.1'"),
    Column("disk_encrypted", "boolean", "Boot volume encrypted (FileVault, BitLocker, LUKS)"),
    Column("encryption_detail", "string", "What the source said about encryption"),
    Column("screen_lock_enforced", "boolean", "A screen-lock setting is enforced (null: unknown)"),
    Column("screen_lock_detail", "string", "Which policy or profile shows the screen lock"),
    Column("last_seen_at", "datetime", "Last check-in with the device-management server"),
    Column("days_since_seen", "integer", "Whole days since the last check-in, at collection"),
    Column("assigned_user", "string", "User (e-mail) the device is assigned to, if known"),
    Column("source", "string", "Where the device is managed, e.g. fleet:fleet.acme.example"),
)
DEVICE_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in DEVICE_COLUMNS)

#: Minimum OS versions per platform (tune per connection: Apple and Microsoft ship yearly).
DEFAULT_MINIMUM_OS_VERSIONS: dict[str, str] = {
    "macos": "15.0",
    "windows": "10.0.22631",
    "ubuntu": "22.04",
}
MINIMUM_OS_PARAM = Param(
    "minimum_versions",
    "json",
    default=DEFAULT_MINIMUM_OS_VERSIONS,
    help='Minimum OS version per platform, e.g. {"macos": "15.0"}; devices of a '
    "platform not listed are not checked.",
)
MAX_DAYS_SINCE_SEEN = Param(
    "max_days", "integer", default=14, help="Days without a check-in before a device fails."
)

#: Controls and rationale of the four device checks (each collector adds title, severity
#: and remediation in its own words).
DISK_ENCRYPTION = dict(
    controls=("soc2-2017:CC6.1", "soc2-2017:CC6.7", "iso27001-2022:A.8.1",
              "iso27001-2022:A.8.24"),
    rationale="Encrypted endpoints keep data safe when a laptop is lost (CC6.1, CC6.7; "
    "user endpoint devices A.8.1, cryptography A.8.24).",
)  # fmt: skip
SCREEN_LOCK = dict(
    controls=("soc2-2017:CC6.1", "iso27001-2022:A.8.1", "iso27001-2022:A.7.7"),
    rationale="A locked screen protects an unattended endpoint (A.8.1, clear screen A.7.7; "
    "logical access CC6.1).",
)
OS_SUPPORTED = dict(
    controls=("soc2-2017:CC7.1", "soc2-2017:CC6.8", "iso27001-2022:A.8.8",
              "iso27001-2022:A.8.1"),
    rationale="Current operating systems carry the security updates (vulnerability "
    "management CC7.1, A.8.8; malicious software CC6.8).",
)  # fmt: skip
CHECKED_IN = dict(
    controls=("soc2-2017:CC6.8", "iso27001-2022:A.8.1"),
    rationale="A device that stops reporting is no longer monitored (A.8.1, CC6.8).",
)

_DOTTED = re.compile(r"\d+(?:\.\d+)+")
_NUMBER = re.compile(r"\d+")


def os_version_number(os_name: str | None) -> str | None:
    """The numeric version in an OS description: ``'macOS 14.4.1'`` -> ``'14.4.1'``.

    The first dotted number wins (``'Microsoft Windows 11 Pro 23H2 10.0.22631.3296'`` ->
    ``'10.0.22631.3296'``, the build Microsoft documents); a bare number is the fallback
    (``'CentOS Linux 7'`` -> ``'7'``). ``None`` when there is no number at all.
    """
    if not os_name:
        return None
    match = _DOTTED.search(os_name) or _NUMBER.search(os_name)
    return match.group(0) if match else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in _NUMBER.findall(version))


def parse_time(text: str | None) -> datetime | None:
    """An ISO-8601 timestamp as an aware datetime; ``None`` for empty or zero dates.

    Fleet and Jamf both write ``0001-01-01T00:00:00Z`` (or nothing) for "never".
    """
    moment = vulnerabilities.parse_time(text)
    return None if moment is None or moment.year < 1971 else moment


def days_since(moment: datetime | None, now: datetime) -> int | None:
    """Whole days from ``moment`` to ``now`` (``None`` when the moment is unknown)."""
    return None if moment is None else max(0, (now - moment).days)


def encrypted_outcome(row: dict[str, Any]) -> Outcome:
    """PASS when the boot volume is encrypted, FAIL when not, ERROR when nobody knows."""
    name, detail = row["name"], row.get("encryption_detail") or "no detail"
    if row["disk_encrypted"] is None:
        return Outcome(Status.ERROR, f"{name}: disk encryption not reported ({detail}).")
    if row["disk_encrypted"]:
        return Outcome(Status.PASS, f"{name}: disk encrypted ({detail}).")
    return Outcome(Status.FAIL, f"{name}: disk not encrypted ({detail}).")


def screen_lock_outcome(row: dict[str, Any]) -> Outcome | None:
    """PASS/FAIL on the screen-lock evidence; ERROR when it is unknown for this device.

    ``None`` (not evaluated) when the row says no configured policy or profile applies to
    the device's platform (``screen_lock_detail`` starts with ``"not applicable"``).
    """
    name, detail = row["name"], row.get("screen_lock_detail") or "no detail"
    if row["screen_lock_enforced"] is None:
        if detail.startswith("not applicable"):
            return None
        return Outcome(Status.ERROR, f"{name}: screen lock not known ({detail}).")
    if row["screen_lock_enforced"]:
        return Outcome(Status.PASS, f"{name}: screen lock enforced ({detail}).")
    return Outcome(Status.FAIL, f"{name}: screen lock not enforced ({detail}).")


def os_version_outcome(row: dict[str, Any], params: dict[str, Any]) -> Outcome | None:
    """FAIL below the platform's minimum; not evaluated for platforms without one."""
    minimums = params["minimum_versions"]
    if not isinstance(minimums, dict):
        return Outcome(Status.ERROR, "minimum_versions must map platforms to versions.")
    minimum = minimums.get(row["platform"])
    if minimum is None:
        return None
    name, version = row["name"], row["os_version"]
    if version is None:
        return Outcome(Status.ERROR, f"{name}: OS version not reported ({row['os_name']}).")
    if _version_key(version) < _version_key(str(minimum)):
        return Outcome(Status.FAIL, f"{name} runs {row['os_name']} (minimum {minimum}).")
    return Outcome(Status.PASS, f"{name} runs {row['os_name']} (minimum {minimum}).")


def checked_in_outcome(row: dict[str, Any], params: dict[str, Any]) -> Outcome:
    """FAIL when the last check-in is older than ``max_days`` (or there never was one)."""
    name, days, limit = row["name"], row["days_since_seen"], params["max_days"]
    if days is None:
        return Outcome(Status.FAIL, f"{name} has never checked in.")
    seen = str(row["last_seen_at"])[:10]
    if days > limit:
        return Outcome(Status.FAIL, f"{name} last checked in {seen}, {days} days ago "
                       f"(limit {limit}).")  # fmt: skip
    return Outcome(Status.PASS, f"{name} last checked in {seen} ({days} days ago).")
