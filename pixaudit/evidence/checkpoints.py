"""Signed checkpoints of the chain head: the format, and checking a chain against them.

The hash chain proves that nothing *inside* it changed, but whoever can write the database
can drop the last items and rewrite ``ChainHead``, or rewrite a whole tail and recompute
every hash after it. A checkpoint pins the head outside the database: a small canonical
JSON document (``seq``, ``chain_hash``, time, organisation, key fingerprint) signed with the
organisation's Ed25519 key (``PIXAUDIT_SIGNING_KEY``, the key that signs evidence packs,
whose public key is published) and written to the artifact store, under S3 Object Lock
when configured. ``verify_evidence`` then requires the item at each checkpoint's ``seq`` to
carry exactly that ``chain_hash``: a removed tail (the chain now ends before a checkpoint)
or a rewritten one (the hash differs) is reported with the checkpoint that caught it.

Stored form (``evidence/checkpoints/<seq, 12 digits>-<UTC time>.json``): the canonical JSON
``{"checkpoint": {...}, "signature": <base64 Ed25519 over canonical_bytes(checkpoint)>,
"public_key_pem": <the signer's public key, for information only>}``. Exported form
(``manage.py chain_checkpoint --export DIR``): ``<stem>.json`` holding exactly the signed
bytes, ``<stem>.sig`` holding the raw 64-byte signature, and ``public_key.pem``, so anyone
can check them with ``openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in
<stem>.json -sigfile <stem>.sig`` and without pixaudit.

Writing checkpoints lives in ``services/checkpoints.py``; this module only reads.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.files.storage import default_storage

from pixaudit.evidence.canonical import canonical_bytes

__all__ = [
    "CHECKPOINT_DIR",
    "CHECKPOINT_TYPE",
    "Checkpoint",
    "CheckpointReport",
    "checkpoint_envelope",
    "checkpoint_problem",
    "checkpoint_read",
    "checkpoints_check",
    "checkpoints_from_directory",
    "checkpoints_from_store",
    "checkpoints_verify",
    "public_key_from_pem",
    "public_key_pem_fingerprint",
]

CHECKPOINT_DIR = "evidence/checkpoints"
CHECKPOINT_TYPE = "pixaudit.chain-checkpoint"


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint as read from the store or an export (not yet verified)."""

    name: str
    document: dict[str, Any]
    signed_bytes: bytes
    signature: bytes
    problem: str = ""  # set when the file could not be read as a checkpoint

    @property
    def seq(self) -> int:
        return int(self.document.get("seq", -1))

    @property
    def chain_hash(self) -> str:
        return str(self.document.get("chain_hash", ""))

    @property
    def created_at(self) -> str:
        return str(self.document.get("created_at", "?"))

    def describe(self) -> str:
        return f"checkpoint {self.name} (seq={self.seq}, signed {self.created_at})"


def public_key_from_pem(pem: bytes) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def public_key_pem_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the SubjectPublicKeyInfo PEM (the fingerprint the app publishes)."""
    import hashlib

    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(pem).hexdigest()


def checkpoint_envelope(document: dict[str, Any], signature: bytes, public_pem: bytes) -> bytes:
    """The stored bytes of a checkpoint."""
    return canonical_bytes(
        {
            "checkpoint": document,
            "signature": base64.b64encode(signature).decode("ascii"),
            "public_key_pem": public_pem.decode("ascii"),
        }
    )


def _parse_envelope(name: str, data: bytes) -> Checkpoint:
    try:
        envelope = json.loads(data)
        document = envelope["checkpoint"]
        signature = base64.b64decode(envelope["signature"], validate=True)
        if not isinstance(document, dict):
            raise TypeError("checkpoint is not an object")
        return Checkpoint(name, document, canonical_bytes(document), signature)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        return Checkpoint(name, {}, b"", b"", problem=f"unreadable checkpoint file ({exc})")


def checkpoint_read(name: str) -> Checkpoint:
    """One stored checkpoint (raises ``FileNotFoundError`` when it is gone)."""
    with default_storage.open(name, "rb") as fh:
        return _parse_envelope(name, fh.read())


def checkpoints_from_store() -> Iterator[Checkpoint]:
    """Every checkpoint in the artifact store, in chain order (names sort by seq)."""
    try:
        _dirs, files = default_storage.listdir(CHECKPOINT_DIR)
    except FileNotFoundError:
        return
    for file_name in sorted(f for f in files if f.endswith(".json")):
        yield checkpoint_read(f"{CHECKPOINT_DIR}/{file_name}")


def checkpoints_from_directory(directory: Path) -> Iterator[Checkpoint]:
    """Every checkpoint of an export (``<stem>.json`` + ``<stem>.sig``), in chain order."""
    for path in sorted(directory.glob("*.json")):
        signed = path.read_bytes()
        sig_path = path.with_suffix(".sig")
        if not sig_path.exists():
            yield Checkpoint(path.name, {}, b"", b"", problem=f"{sig_path.name} is missing")
            continue
        try:
            document = json.loads(signed)
        except ValueError as exc:
            yield Checkpoint(path.name, {}, b"", b"", problem=f"unreadable ({exc})")
            continue
        yield Checkpoint(path.name, document, signed, sig_path.read_bytes())


@dataclass
class CheckpointReport:
    """Outcome of :func:`checkpoints_verify`."""

    ok: bool = True
    problem: str = ""
    verified: int = 0
    latest: Checkpoint | None = None
    uncovered: int = 0  # items after the latest checkpoint
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if not self.ok:
            return f"FAILED: {self.problem}"
        if self.latest is None:
            return (
                "No signed checkpoint yet: a removed or rewritten tail cannot be detected "
                "(`manage.py chain_checkpoint` writes one)."
            )
        after = (
            "the chain has no item after it"
            if not self.uncovered
            else f"{self.uncovered} item(s) after it are not covered by a checkpoint yet"
        )
        return (
            f"Checkpoints: {self.verified} signed checkpoint(s) match the chain; the latest is "
            f"seq={self.latest.seq}, signed {self.latest.created_at}; {after}."
        )


def checkpoint_problem(checkpoint: Checkpoint, trusted: list[Ed25519PublicKey]) -> str | None:
    """Why ``checkpoint`` cannot be trusted (unreadable, not a checkpoint, or not signed by
    one of the ``trusted`` keys), or ``None``."""
    return checkpoint.problem or _signature_problem(checkpoint, trusted)


def _signature_problem(checkpoint: Checkpoint, trusted: list[Ed25519PublicKey]) -> str | None:
    if checkpoint.document.get("type") != CHECKPOINT_TYPE:
        return "not a pixaudit chain checkpoint"
    for key in trusted:
        try:
            key.verify(checkpoint.signature, checkpoint.signed_bytes)
            return None
        except InvalidSignature:
            continue
    fingerprint = checkpoint.document.get("key_fingerprint", "?")
    trusted_fps = ", ".join(public_key_pem_fingerprint(k)[:16] for k in trusted)
    return (
        "signature does not verify with a trusted key (the file was altered, or it was "
        f"signed by key {str(fingerprint)[:16]}…, not one of: {trusted_fps}; after a key "
        "rotation pass the old public key with --public-key)"
    )


def checkpoints_verify(
    *,
    checkpoints: Iterable[Checkpoint],
    last_seq: int,
    chain_hash_at: Callable[[int], str | None],
    trusted_keys: list[Ed25519PublicKey],
    indexed_names: Iterable[str] = (),
) -> CheckpointReport:
    """Check each checkpoint's signature, then that the chain (already verified link by
    link) carries its ``chain_hash`` at its ``seq``. ``indexed_names`` are the files the
    database says were written: one missing from ``checkpoints`` was deleted."""
    report = CheckpointReport()
    seen: set[str] = set()
    for checkpoint in checkpoints:
        seen.add(checkpoint.name)
        problem = checkpoint_problem(checkpoint, trusted_keys)
        if problem is None:
            if checkpoint.seq > last_seq:
                problem = (
                    f"the chain ends at seq={last_seq} but this signed checkpoint covers "
                    f"seq={checkpoint.seq}: items were removed from the end of the chain "
                    "(and its head rewritten)"
                )
            else:
                actual = chain_hash_at(checkpoint.seq)
                if actual != checkpoint.chain_hash:
                    problem = (
                        f"the chain's hash at seq={checkpoint.seq} is {actual}, the signed "
                        f"checkpoint says {checkpoint.chain_hash}: the chain was rewritten "
                        f"at or before seq={checkpoint.seq}"
                    )
        if problem:
            report.ok, report.problem = False, f"{checkpoint.describe()}: {problem}"
            return report
        report.verified += 1
        if report.latest is None or checkpoint.seq >= report.latest.seq:
            report.latest = checkpoint
    missing = sorted(set(indexed_names) - seen)
    if missing:
        report.ok = False
        report.problem = (
            f"checkpoint file {missing[-1]} is recorded in the database but missing from the "
            f"store ({len(missing)} missing): checkpoints were deleted"
        )
        return report
    if report.latest is not None:
        report.uncovered = last_seq - report.latest.seq
    return report


def checkpoints_check(
    *,
    last_seq: int,
    directory: Path | None = None,
    public_keys: list[Ed25519PublicKey] | None = None,
) -> CheckpointReport:
    """:func:`checkpoints_verify` against the database's chain: checkpoints from the store
    (or an export ``directory``), trusting ``public_keys`` (default: the configured signing
    key's). Call it after ``integrity.verify_chain`` passed, with its item count."""
    from pixaudit.evidence.models import ChainCheckpoint, EvidenceItem
    from pixaudit.reports.signing import public_key_pem

    trusted = public_keys or [public_key_from_pem(public_key_pem())]

    def chain_hash_at(seq: int) -> str | None:
        return EvidenceItem.objects.filter(seq=seq).values_list("chain_hash", flat=True).first()

    if directory is not None:
        found, indexed = checkpoints_from_directory(directory), []
    else:
        found = checkpoints_from_store()
        indexed = list(ChainCheckpoint.objects.values_list("name", flat=True))
    return checkpoints_verify(
        checkpoints=found,
        last_seq=last_seq,
        chain_hash_at=chain_hash_at,
        trusted_keys=trusted,
        indexed_names=indexed,
    )
