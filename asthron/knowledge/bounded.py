"""Reading a file or a page in a child process, under a wall-clock and a memory limit.

Why a process: the readers (pypdf, python-docx, trafilatura on lxml) are parsers whose cost is
not bounded by the size of what they read. A 233 KB PDF whose 500 pages share one 64 MB
content stream took 45 minutes; a 172 KB DOCX took 258 s and 2.3 GB; trafilatura is
superlinear, so an 8 MB HTML page did not finish in 400 s. The cheap checks before parsing
(``documents``, ``extraction``) refuse the shapes we know of, but only a limit on the reading
itself covers the ones nobody thought of. A thread cannot be stopped, and signal-based
timeouts (trafilatura's own) only work in the main thread, which the web and worker threads
are not; a process can be killed, and ``RLIMIT_AS`` makes it fail with MemoryError instead of
taking the machine's memory.

The children are forked from a forkserver that has imported the readers once
(``reader_process``), so a call costs a fork and two pickles (about 20 ms measured, where the
8 KB page itself takes 10 ms to read), not a fresh interpreter (about 2 s to import
trafilatura): cheap beside fetching a page, so every crawled page is read this way too. The
forkserver is single-threaded, so forking it is safe; forking the multi-threaded web or
worker process itself ("fork" start method) is not.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource

log = logging.getLogger(__name__)

# One page or file: far more than a real document needs (the sample files read in well under a
# second), far less than the pathological ones take.
READ_SECONDS = 30.0
# Address space, not resident memory: the forked reader starts at about 150 MB of it.
READ_MEMORY = 1024 * 1024 * 1024

_CONTEXT = multiprocessing.get_context("forkserver")
# Imported once in the forkserver: the readers, warmed up, and a child that starts without
# running the parent's main module again (reader_process says why).
_CONTEXT.set_forkserver_preload(["asthron.knowledge.reader_process"])


class ReadLimitExceeded(Exception):
    """The reading was stopped; ``reason`` (safe to show staff) says which limit it hit."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ReadFailed(Exception):
    """The reader raised something that could not be sent back as it was."""


def _child(connection, function, args, memory: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    try:
        answer = (True, function(*args))
    except MemoryError:
        answer = (False, ReadLimitExceeded(_too_big(memory)))
    except Exception as exc:
        answer = (False, exc)
    try:
        connection.send(answer)
    except Exception as exc:  # an exception (or result) that does not pickle
        connection.send((False, ReadFailed(f"{type(exc).__name__}: {exc}"[:300])))
    connection.close()


def _too_big(memory: int) -> str:
    return f"too complex (reading it needed more than {memory // 2**20:,} MB of memory)"


def run_bounded(function, *args, seconds: float = READ_SECONDS, memory: int = READ_MEMORY):
    """``function(*args)`` run in a child process: its result, or the exception it raised,
    raised here. ReadLimitExceeded when it ran out of time or memory, or died without an
    answer. ``function`` and its arguments must pickle (a module-level function)."""
    receiving, sending = _CONTEXT.Pipe(duplex=False)
    process = _CONTEXT.Process(target=_child, args=(sending, function, args, memory), daemon=True)
    process.start()
    sending.close()
    try:
        if not receiving.poll(seconds):
            raise ReadLimitExceeded(
                f"too complex (reading it took longer than {seconds:g} seconds)"
            )
        try:
            ok, value = receiving.recv()
        except EOFError:
            # Killed (memory exhausted inside C code, the kernel's OOM killer) or crashed.
            log.warning("a reader process ended without an answer")
            raise ReadLimitExceeded("too complex (the reader stopped before the end)") from None
    finally:
        receiving.close()
        if process.is_alive():
            process.kill()
        process.join()
    if not ok:
        raise value
    return value
