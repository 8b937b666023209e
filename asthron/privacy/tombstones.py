"""Erasure tombstones: keyed HMACs of erased identifiers, never the identifiers.

The key is derived from the session secret in the secrets file, which is never in the
database nor in a backup: a stolen backup cannot be searched for whom was erased. The digests
are also appended to ``var/erasure-tombstones.txt``, so restoring a backup made before an
erasure still knows to erase that person again.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from asthron.privacy.models import ErasureTombstone

FILE_NAME = "erasure-tombstones.txt"


def tombstone_key(secrets: dict) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"asthron erasure tombstones v1"
    ).derive(secrets["session_secret"].encode())


def digest(key: bytes, kind: str, value) -> str:
    """The tombstone of one normalised identifier ("email", "phone") or entity id."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def file_path(var_dir: Path) -> Path:
    return Path(var_dir) / FILE_NAME


def record(db: Session, var_dir: Path, digests: set[str]) -> None:
    known = set(db.scalars(sa.select(ErasureTombstone.digest)))
    for value in sorted(digests - known):
        db.add(ErasureTombstone(digest=value))
    db.flush()
    path = file_path(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.writelines(f"{value}\n" for value in sorted(digests))


def stored(db: Session) -> set[str]:
    return set(db.scalars(sa.select(ErasureTombstone.digest)))


def from_file(var_dir: Path) -> set[str]:
    path = file_path(var_dir)
    if not path.is_file():
        return set()
    return {line.strip() for line in path.read_text().splitlines() if len(line.strip()) == 64}
