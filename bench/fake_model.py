"""The model for the benchmarks, in its own process: tests/fakes/llm_server.py's fake
OpenAI/Ollama/Anthropic server, as a hosted model would be, so its work never competes with
the benchmark's client (or Asthron) for one interpreter lock.

``python -m bench.fake_model`` prints one JSON line ``{"port": N}`` and then takes one JSON
object per stdin line: the FakeLLMServer knobs to set (``{"scenario": "normal", ...}``),
answered by ``{"ok": true}``. End of input stops it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from tests.fakes.llm_server import FakeLLMServer

    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    fake = FakeLLMServer(**json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")).start()
    protocol.write(json.dumps({"port": fake.port}) + "\n")
    for line in sys.stdin:
        for key, value in json.loads(line).items():
            setattr(fake, key, value)
        protocol.write(json.dumps({"ok": True}) + "\n")
    fake.stop()


class RemoteFakeModel:
    """The client side: start the process, set knobs, stop it."""

    def __init__(self, **knobs):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_model", json.dumps(knobs)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = json.loads(self.process.stdout.readline())["port"]

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def set(self, **knobs) -> None:
        self.process.stdin.write(json.dumps(knobs) + "\n")
        self.process.stdin.flush()
        json.loads(self.process.stdout.readline())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


if __name__ == "__main__":
    main()
