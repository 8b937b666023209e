"""``asthron kb``: import knowledge-base articles from files."""

from __future__ import annotations

from pathlib import Path

import click

from asthron import audit
from asthron.knowledge import service
from asthron.knowledge.search import search


@click.group("kb")
def kb_group():
    """The knowledge base."""


@kb_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_obj
def import_(obj, paths):
    """Import markdown or text files (or every such file in a folder)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.suffix.lower() in service.IMPORT_SUFFIXES)
            )
        else:
            files.append(path)
    if not files:
        raise click.ClickException("no .md, .markdown or .txt files found")
    created = updated = 0
    with obj.db() as db:
        for file in files:
            try:
                article, is_new = service.import_file(db, audit.Actor.cli(), file)
            except service.KnowledgeError as exc:
                raise click.ClickException(str(exc)) from None
            created += is_new
            updated += not is_new
            click.echo(f"{'created' if is_new else 'updated'}: {article.title}")
    click.echo(f"Imported {len(files)} file(s): {created} new, {updated} updated.")


@kb_group.command("search")
@click.argument("query")
@click.pass_obj
def search_(obj, query):
    """Show the passages the assistant would retrieve for QUERY."""

    with obj.db() as db:
        for passage in search(db, query):
            click.echo(
                f"[{passage.score:.3f}] {passage.title} / {passage.heading}: {passage.text[:120]}"
            )


def register(cli):
    cli.add_command(kb_group)
