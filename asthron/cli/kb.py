"""``asthron kb``: import knowledge-base articles from files, crawl the website sources."""

from __future__ import annotations

from pathlib import Path

import click

from asthron import audit
from asthron.cli.output import echo, shown
from asthron.knowledge import service, sources
from asthron.knowledge.crawling import run_crawl
from asthron.knowledge.importing import plan_import
from asthron.knowledge.search import search
from asthron.knowledge.source_models import KnowledgeCrawl, KnowledgeSource


@click.group("kb")
def kb_group():
    """The knowledge base."""


@kb_group.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--publish",
    is_flag=True,
    help="Publish the articles at once (the assistant quotes them to visitors). "
    "Without it they are imported as drafts to review in the dashboard.",
)
@click.pass_obj
def import_(obj, paths, publish):
    """Import PDF, DOCX, Markdown, HTML or text files (or every such file in a folder,
    recursively). Each file's name (its path within the folder given) and type are kept on
    its article; importing the same file again updates that article.

    Symlinks, files whose real path leaves the folder given, files in var/ or the secrets
    file's folder, files over the size cap, encrypted PDFs, and files whose content is not what
    their name says (a binary file named .md) are refused, each with its reason; if any is
    refused, nothing is imported.
    """
    settings = obj.settings
    plan = plan_import(
        list(paths),
        private_dirs=[settings.var_dir, settings.secrets_file.parent],
        private_files=[settings.secrets_file],
        max_bytes=settings.knowledge_max_upload_size,
    )
    for path, reason in plan.skipped:
        echo(f"skipped: {shown(path)}: {reason}", err=True)
    for path, reason in plan.refused:
        echo(f"refused: {shown(path)}: {reason}", err=True)
    if plan.refused:
        raise click.ClickException(
            f"{len(plan.refused)} path(s) refused (listed above); nothing was imported"
        )
    if not plan.files:
        raise click.ClickException("no PDF, DOCX, Markdown, HTML or text files found")
    created = updated = 0
    state = "published" if publish else "draft"
    with obj.db() as db:
        for file in plan.files:
            try:
                article, is_new = sources.import_document(
                    db, audit.Actor.cli(), file.name, file.document, published=publish
                )
            except service.KnowledgeError as exc:
                raise click.ClickException(f"{shown(file.path)}: {exc}") from None
            created += is_new
            updated += not is_new
            done = "created" if is_new else "updated"
            echo(f"{done} ({state}): {shown(article.title)} ({shown(file.name)})")
    echo(f"Imported {len(plan.files)} file(s) as {state}: {created} new, {updated} updated.")
    if not publish:
        echo("Review them in the dashboard and publish them there, or import with --publish.")


@kb_group.command("search")
@click.argument("query")
@click.pass_obj
def search_(obj, query):
    """Show the passages the assistant would retrieve for QUERY."""

    with obj.db() as db:
        for passage in search(db, query):
            text = passage.text[:120]
            flag = "" if passage.answerable else " (not answerable: the assistant won't quote it)"
            echo(
                f"[{passage.score:.3f}] {shown(passage.title)} / {shown(passage.heading)}: "
                f"{shown(text)}{flag}"
            )


@kb_group.command("add-site")
@click.argument("url")
@click.option("--name", default="", help="A name for the source (default: the address).")
@click.option("--max-pages", default=200, show_default=True, type=click.IntRange(1, 2000))
@click.option(
    "--every",
    "recrawl_hours",
    default=0,
    show_default=True,
    type=click.IntRange(0, 2160),
    help="Re-crawl every N hours in the worker (0: only with `asthron kb crawl`).",
)
@click.option("--publish", is_flag=True, help="Publish new pages at once (else drafts).")
@click.pass_obj
def add_site(obj, url, name, max_pages, recrawl_hours, publish):
    """Add a website source: URL is its sitemap or the page to start from."""
    data = sources.SourceInput(name, url, max_pages, recrawl_hours, publish)
    with obj.db() as db:
        try:
            source = sources.create_source(
                db, audit.Actor.cli(), data, obj.settings.outbound_allowed_private_hosts
            )
        except sources.SourceError as exc:
            raise click.ClickException(str(exc)) from None
        echo(f"Added source {source.id}: {shown(source.url)}")


@kb_group.command("crawl")
@click.argument("source_id", type=int)
@click.pass_obj
def crawl(obj, source_id):
    """Crawl the website source SOURCE_ID now, here (not in the worker), and list the pages
    that failed. Exits non-zero when the crawl itself failed."""
    with obj.db() as db:
        source = db.get(KnowledgeSource, source_id)
        if source is None:
            raise click.ClickException(f"no source {source_id} (see the dashboard's Sources)")
        try:
            crawl_id = sources.start_crawl(db, audit.Actor.cli(), source).id
        except sources.SourceError as exc:
            raise click.ClickException(str(exc)) from None
    status = run_crawl(obj.registry, crawl_id)
    with obj.db() as db:
        for page in sources.pages_of_crawl(db, crawl_id):
            if page.outcome in ("failed", "retired"):
                echo(f"{page.outcome}: {shown(page.url)}: {shown(page.reason)}")
        done = db.get(KnowledgeCrawl, crawl_id)
        counts = ", ".join(f"{k} {v}" for k, v in sorted((done.counts or {}).items()))
        echo(f"Crawl {crawl_id} {status}: {counts or 'no pages'}. {shown(done.note)}".strip())
    if status != "done":
        raise click.ClickException(f"the crawl failed: {done.note}")


def register(cli):
    cli.add_command(kb_group)
