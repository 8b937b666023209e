"""Key rotation: a new Fernet key in the secrets file, every encrypted value re-encrypted.

The encrypted values are found through the metadata: every column named ``*_encrypted``,
and the JSON columns a table declares as ``sealed`` (outbox email bodies). Re-encryption runs
in batches, each in its own transaction; a value already under the newest key is skipped, so
an interrupted rotation is finished by running it again. Until ``retire-old``, the old keys
stay in the file and still decrypt.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from zope.sqlalchemy import mark_changed

from asthron.db import new_transaction
from asthron.privacy import rules
from asthron.security.crypto import SecretBox, new_key
from asthron.settings import load_secrets

BATCH = 200
ROTATION_MARK = "rotation_started_at"


class KeyRotationError(ValueError):
    """Key rotation cannot proceed; the message says why."""


def write_secrets(path: Path, data: dict) -> None:
    """Replace the secrets file atomically, readable by this user alone."""
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(partial, path)


def _under(token: str, fernet: Fernet) -> bool:
    try:
        fernet.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def _values(registry):
    """(table, pk column, column, JSON key or None) for every encrypted value's place."""
    for table, column in rules.encrypted_columns():
        yield table, next(iter(table.primary_key.columns)), table.c[column.name], None
    for table, column, key in rules.sealed_columns():
        yield table, next(iter(table.primary_key.columns)), table.c[column], key


def _walk(registry, fn, batch: int, write: bool = True) -> dict[str, int]:
    """Call ``fn(token) -> new token | None`` on every encrypted value, batch by batch, each
    batch in its own transaction; returns how many values changed per table.column (with
    ``write`` False, how many ``fn`` would change)."""
    changed: dict[str, int] = {}
    for table, pk, column, key in _values(registry):
        last = None
        name = f"{table.name}.{column.name}"
        while True:
            with new_transaction(registry) as db:
                query = sa.select(pk, column).where(column.is_not(None)).order_by(pk).limit(batch)
                if last is not None:
                    query = query.where(pk > last)
                rows = db.execute(query).all()
                for row_id, value in rows:
                    token = value.get(key) if key and isinstance(value, dict) else value
                    if not isinstance(token, str):
                        continue
                    new = fn(token)
                    if new is None:
                        continue
                    changed[name] = changed.get(name, 0) + 1
                    if not write:
                        continue
                    stored = {**value, key: new} if key else new
                    db.execute(sa.update(table).where(pk == row_id).values({column.name: stored}))
                    mark_changed(db, db.info["transaction_manager"])
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return changed


def rotate(registry, secrets_file: Path, new: bool = True, batch: int = BATCH) -> dict:
    """Put a new key first (unless a rotation is unfinished, or ``new`` is False) and
    re-encrypt every value under it. Returns {"tables": {...}, "keys": n}."""
    data = load_secrets(secrets_file)
    if new and not data.get(ROTATION_MARK):
        data["fernet_keys"] = [new_key(), *data["fernet_keys"]]
        data[ROTATION_MARK] = dt.datetime.now(dt.UTC).isoformat()
        write_secrets(secrets_file, data)
    box = SecretBox(data["fernet_keys"])
    primary = Fernet(data["fernet_keys"][0].encode())

    def reencrypt(token: str):
        if _under(token, primary):
            return None
        return box.rotate(token)

    changed = _walk(registry, reencrypt, batch)
    data.pop(ROTATION_MARK, None)
    write_secrets(secrets_file, data)
    return {"tables": changed, "keys": len(data["fernet_keys"])}


def retire_old(registry, secrets_file: Path) -> int:
    """Drop every key but the newest, once no value needs them. Returns how many went."""
    data = load_secrets(secrets_file)
    if data.get(ROTATION_MARK):
        raise KeyRotationError("a rotation is unfinished: run 'asthron keys rotate' again first")
    keys = data["fernet_keys"]
    if len(keys) == 1:
        raise KeyRotationError("there is only one key: nothing to retire")
    primary = Fernet(keys[0].encode())
    stale = _walk(
        registry, lambda token: None if _under(token, primary) else token, BATCH, write=False
    )
    if stale:
        count = sum(stale.values())
        raise KeyRotationError(
            f"{count} value(s) still need an old key: run 'asthron keys rotate --no-new-key'"
        )
    data["fernet_keys"] = keys[:1]
    write_secrets(secrets_file, data)
    return len(keys) - 1
