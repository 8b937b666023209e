"""1. The widget's weight on the wire: asthron/static/widget.js gzipped at level 9."""

from __future__ import annotations

import gzip

from bench.harness import ROOT, Result, Section

NAME = "widget"
TITLE = "Widget bytes gzipped"
WIDGET = ROOT / "asthron" / "static" / "widget.js"
GOAL_KB = 15  # 1 KB = 1024 bytes


def run(ctx) -> Section:
    section = Section(TITLE)
    if not WIDGET.is_file():
        section.results.append(Result(TITLE, "widget.js gzip -9", "missing", "KB", ("<=", GOAL_KB)))
        section.notes.append("widget.js: asthron/static/widget.js does not exist yet.")
        return section
    raw = WIDGET.read_bytes()
    # mtime=0: the same compression the server's /widget.js view serves.
    compressed = gzip.compress(raw, compresslevel=9, mtime=0)
    section.results.append(
        Result(TITLE, "widget.js gzip -9", len(compressed) / 1024, "KB", ("<=", GOAL_KB), 1)
    )
    section.notes.append(
        f"widget.js: {len(raw):,} bytes raw, {len(compressed):,} bytes gzipped (level 9)."
    )
    return section
