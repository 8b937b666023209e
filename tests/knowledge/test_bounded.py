"""Reading in a child process: what the reader returns or raises comes back; one that runs too
long or takes too much memory is stopped with ReadLimitExceeded. The readers these stand in
for are in test_documents.py and test_crawl.py; these make the limits happen on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from asthron.knowledge.bounded import ReadLimitExceeded, run_bounded


def _pid_and_double(value):
    return os.getpid(), value * 2


def _refuse(message):
    raise ValueError(message)


def _spin():
    while True:
        pass


def _allocate(size):
    return len(bytearray(size))


def test_the_reader_runs_in_another_process_and_its_answer_comes_back():
    pid, doubled = run_bounded(_pid_and_double, 21)

    assert doubled == 42
    assert pid != os.getpid()


def test_what_the_reader_raises_is_raised_here():
    with pytest.raises(ValueError, match=r"^not a document$"):
        run_bounded(_refuse, "not a document")


def test_a_reader_that_never_finishes_is_stopped_at_its_time_limit():
    with pytest.raises(ReadLimitExceeded, match=r"reading it took longer than 1 seconds"):
        run_bounded(_spin, seconds=1)


def test_a_reader_that_takes_too_much_memory_is_stopped_at_its_memory_limit():
    with pytest.raises(ReadLimitExceeded, match="needed more than 512 MB of memory"):
        run_bounded(_allocate, 1024 * 1024 * 1024, memory=512 * 1024 * 1024)
    # The limit is the child's alone.
    assert _allocate(600 * 1024 * 1024) == 600 * 1024 * 1024


ROOT = Path(__file__).resolve().parents[2]


def test_a_child_does_not_run_the_parents_main_script_again(tmp_path):
    # `asthron worker` is such a script: running it again in each child imported the whole
    # CLI for every crawled page.
    imports = tmp_path / "imports.txt"
    script = tmp_path / "main.py"
    script.write_text(
        "import os, pathlib\n"
        f"with pathlib.Path({str(imports)!r}).open('a') as log:\n"
        "    log.write(f'{os.getpid()}\\n')\n"
        "from asthron.knowledge.bounded import run_bounded\n"
        "if __name__ == '__main__':\n"
        "    children = {run_bounded(os.getpid) for _ in range(3)}\n"
        "    print(len(children - {os.getpid()}))\n"
    )
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])

    run = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,  # a hang guard: the run takes a few seconds
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "3"  # three children, none of them this process
    assert len(imports.read_text().splitlines()) == 1  # the script ran once: here
