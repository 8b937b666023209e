"""Printing stored text on the operator's terminal without letting it drive the terminal.

Names, emails, titles and provider messages come from visitors, staff, files and remote
servers. Rows stored before input was cleaned may still hold ESC or BEL, so whatever the CLI
prints passes through here: ``shown`` for one value (tabs and line breaks escaped too, so a
value cannot fake a column or a line), ``echo`` for a whole line.
"""

from __future__ import annotations

import click

from asthron.text import escape_controls


def shown(value) -> str:
    return escape_controls("" if value is None else str(value))


def echo(message: str = "", keep: str = "\n\t", **kwargs) -> None:
    click.echo(escape_controls(message, keep=keep), **kwargs)
