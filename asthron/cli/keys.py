"""``asthron keys``: rotate the Fernet keys in the secrets file."""

from __future__ import annotations

import click

from asthron import audit
from asthron.cli.output import echo
from asthron.privacy import keys


@click.group("keys")
def keys_group():
    """Encryption keys for integration secrets and sealed email bodies."""


@keys_group.command("rotate")
@click.option(
    "--no-new-key", is_flag=True, help="Only re-encrypt what is not under the newest key."
)
@click.pass_obj
def rotate(obj, no_new_key):
    """Add a new key and re-encrypt every encrypted value with it (resumable). Restart the
    web and worker processes afterwards, so they read the new key."""
    obj.require_migrated()
    result = keys.rotate(obj.registry, obj.settings.secrets_file, new=not no_new_key)
    with obj.db() as db:
        audit.record(db, audit.Actor.cli(), "keys.rotated", "keys", None, result)
    for name, count in sorted(result["tables"].items()):
        echo(f"{name}: {count} re-encrypted")
    echo(f"Done: {result['keys']} key(s) in the secrets file; restart web and worker.")


@keys_group.command("retire-old")
@click.pass_obj
def retire_old(obj):
    """Remove every key but the newest, once no value needs them."""
    obj.require_migrated()
    retired = keys.retire_old(obj.registry, obj.settings.secrets_file)
    with obj.db() as db:
        audit.record(db, audit.Actor.cli(), "keys.retired", "keys", None, {"retired": retired})
    echo(f"Retired {retired} old key(s); restart web and worker.")


def register(cli):
    cli.add_command(keys_group)
