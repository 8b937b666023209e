"""``asthron keys rotate | retire-old``, and no secret is ever stored in clear."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from asthron.security.crypto import SecretBox
from tests.fixtures.cli import assert_one_line_error
from tests.privacy.conftest import table_rows

SMTP_PASSWORD = "smtp-Pa55word-in-clear"
API_KEY = "sk-test-api-key-0123456789"
IDENTITY_SECRET = "site-identity-secret-abcdef"
EMAIL_BODY = "Your invitation link: https://example.test/invite/XYZ123"


def _secrets(cli) -> dict:
    return json.loads((Path(cli.ini).parent / "var" / "secrets.json").read_text())


def store_secrets(cli) -> None:
    from asthron.assistant.models import ProviderConfig
    from asthron.jobs.models import OutboxItem
    from asthron.notify.models import SmtpSettings
    from asthron.sites.models import Site

    box = SecretBox(_secrets(cli)["fernet_keys"])
    engine = sa.create_engine(cli.database_url)
    try:
        with Session(engine) as db:
            db.add(
                SmtpSettings(
                    host="mail.example.test",
                    from_address="a@example.test",
                    password_encrypted=box.encrypt(SMTP_PASSWORD),
                )
            )
            db.add(
                ProviderConfig(
                    slot="primary", kind="openai", api_key_encrypted=box.encrypt(API_KEY)
                )
            )
            db.add(
                Site(
                    name="Shop",
                    public_key="pk-keys",
                    identity_secret_encrypted=box.encrypt(IDENTITY_SECRET),
                )
            )
            for i in range(5):
                db.add(
                    OutboxItem(
                        kind="email.send",
                        payload={
                            "to": f"p{i}@example.test",
                            "subject": "Invitation",
                            "sealed": box.encrypt(json.dumps({"text": EMAIL_BODY, "html": None})),
                        },
                    )
                )
            db.commit()
    finally:
        engine.dispose()


def assert_nothing_in_clear(cli) -> None:
    path = Path(sa.engine.make_url(cli.database_url).database)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    secrets = _secrets(cli)
    for secret in (
        SMTP_PASSWORD,
        API_KEY,
        IDENTITY_SECRET,
        "XYZ123",
        secrets["session_secret"],
        *secrets["fernet_keys"],
    ):
        assert secret.encode() not in data, secret


def decrypt_all(cli, keys) -> list[str]:
    box = SecretBox(keys)
    values = [
        box.decrypt(table_rows(cli, "SELECT password_encrypted FROM smtp_settings")[0][0]),
        box.decrypt(table_rows(cli, "SELECT api_key_encrypted FROM provider_configs")[0][0]),
        box.decrypt(table_rows(cli, "SELECT identity_secret_encrypted FROM sites")[0][0]),
    ]
    for (payload,) in table_rows(cli, "SELECT payload FROM outbox"):
        payload = json.loads(payload) if isinstance(payload, str) else payload
        values.append(json.loads(box.decrypt(payload["sealed"]))["text"])
    return values


def test_rotate_reencrypts_everything_and_retire_old_drops_the_old_key(ready_cli):
    store_secrets(ready_cli)
    assert_nothing_in_clear(ready_cli)
    old_keys = _secrets(ready_cli)["fernet_keys"]

    premature = ready_cli("keys", "retire-old")
    assert_one_line_error(premature.output, "only one key")

    result = ready_cli("keys", "rotate")
    assert result.exit_code == 0, result.output
    assert "outbox.payload: 5 re-encrypted" in result.output
    new_keys = _secrets(ready_cli)["fernet_keys"]
    assert len(new_keys) == 2 and new_keys[1:] == old_keys
    assert (Path(ready_cli.ini).parent / "var" / "secrets.json").stat().st_mode & 0o777 == 0o600
    expected = [SMTP_PASSWORD, API_KEY, IDENTITY_SECRET] + [EMAIL_BODY] * 5
    assert decrypt_all(ready_cli, new_keys[:1]) == expected

    # Running it again resumes nothing new when there is nothing left to do.
    again = ready_cli("keys", "rotate", "--no-new-key")
    assert again.exit_code == 0 and "re-encrypted" not in again.output.split("Done")[0]

    retired = ready_cli("keys", "retire-old")
    assert retired.exit_code == 0, retired.output
    assert _secrets(ready_cli)["fernet_keys"] == new_keys[:1]
    assert decrypt_all(ready_cli, new_keys[:1]) == expected
    assert_nothing_in_clear(ready_cli)
    actions = [action for _actor, action in ready_cli.audit()]
    assert "keys.rotated" in actions and "keys.retired" in actions


def test_an_interrupted_rotation_resumes(ready_cli, monkeypatch):
    from asthron.privacy import keys

    store_secrets(ready_cli)
    calls = {"n": 0}
    real_walk = keys._walk

    def crash_after_first_batch(registry, fn, batch, write=True):
        def limited(token):
            calls["n"] += 1
            if calls["n"] > 2:
                raise RuntimeError("killed")
            return fn(token)

        return real_walk(registry, limited, batch, write)

    monkeypatch.setattr(keys, "_walk", crash_after_first_batch)
    crashed = ready_cli("keys", "rotate")
    assert crashed.exit_code != 0
    assert keys.ROTATION_MARK in _secrets(ready_cli)
    monkeypatch.setattr(keys, "_walk", real_walk)
    resumed = ready_cli("keys", "rotate")
    assert resumed.exit_code == 0, resumed.output
    new_keys = _secrets(ready_cli)["fernet_keys"]
    assert len(new_keys) == 2  # the interrupted rotation's key, not a third one
    assert decrypt_all(ready_cli, new_keys[:1])[0] == SMTP_PASSWORD
