"""The process every bounded reader is forked from (``knowledge.bounded``'s forkserver imports
this module once, at its start; nothing else imports it).

It makes a child cheap to start: about 20 ms, where a cold one took 50-600 ms.
"""

from __future__ import annotations

import logging
import multiprocessing.spawn

from asthron.knowledge import documents, extraction  # noqa: F401 - loaded once, for every child

log = logging.getLogger(__name__)

# multiprocessing prepares each child by running the parent's main module again (the script,
# or the -m module) when it is a file: for `asthron worker` that imports the whole CLI, about
# half a second per crawled page. (Preloading "__main__" was meant to do it once, in the
# forkserver, but the forkserver is never told the main file's path.) A reader child needs
# only the reader functions, which it imports by their module's name; so in this process, and
# the children forked from it, the main module is left out of the preparation.
_prepare = multiprocessing.spawn.prepare


def _prepare_without_main(data: dict) -> None:
    _prepare(
        {k: v for k, v in data.items() if k not in ("init_main_from_path", "init_main_from_name")}
    )


multiprocessing.spawn.prepare = _prepare_without_main

# trafilatura loads some data on first use (the public suffix list, ~90 ms, for an address
# its quick check does not take, one with a port for instance): loaded here once, not in every
# child.
_PAGE = (
    b"<html><head><title>Ready</title></head><body><main><h1>Ready</h1>"
    b"<p>A short page read once, so that what the readers load on first use is loaded.</p>"
    b'<a href="/next">next</a></main></body></html>'
)
try:
    for _url in ("https://www.example.com/", "http://127.0.0.1:8080/"):
        extraction.read_page(_PAGE, _url)
except Exception:  # a reader that cannot warm up still reads; it is only slower
    log.exception("warming up the readers failed")
