"""The model for the benchmarks, in a process of its own: tests/fakes/llm_server.py's fake
OpenAI/Ollama/Anthropic server, standing in for a hosted model. In its own process its work
never competes with the benchmark's client, or with Asthron, for one interpreter lock.

``python -m bench.fake_model '{knobs}'`` prints one JSON line ``{"port": N}``, then answers one
JSON command per stdin line with one JSON line:

- ``{"set": {"scenario": "normal", ...}}``: set FakeLLMServer knobs; answers ``{"ok": true}``;
- ``{"last_streamed": "/v1/chat/completions"}``: the JSON body of the newest streamed request
  to that path (the prompt Asthron sent, replayed as the baseline); answers ``{"body": ...}``.

End of input stops it.
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

    # The protocol gets a private copy of stdout; anything else printed goes to stderr.
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    sys.stdout = sys.stderr
    fake = FakeLLMServer(**json.loads(sys.argv[1] if len(sys.argv) > 1 else "{}")).start()
    protocol.write(json.dumps({"port": fake.port}) + "\n")
    try:
        for line in sys.stdin:
            command = json.loads(line)
            if "set" in command:
                for key, value in command["set"].items():
                    setattr(fake, key, value)
                answer = {"ok": True}
            elif "last_streamed" in command:
                streamed = [
                    r.body
                    for r in list(fake.requests)
                    if r.path == command["last_streamed"]
                    and isinstance(r.body, dict)
                    and r.body.get("stream")
                ]
                answer = {"body": streamed[-1]} if streamed else {"error": "no streamed request"}
            else:
                answer = {"error": f"unknown command {sorted(command)}"}
            protocol.write(json.dumps(answer) + "\n")
    finally:
        fake.stop()


class RemoteFakeModel:
    """The benchmark's handle on the fake model process."""

    def __init__(self, **knobs):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.fake_model", json.dumps(knobs)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the fake model process did not start")
        self.port = json.loads(line)["port"]

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _ask(self, command: dict) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def set(self, **knobs) -> None:
        self._ask({"set": knobs})

    def last_streamed(self, path: str = "/v1/chat/completions") -> dict:
        return self._ask({"last_streamed": path})["body"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


if __name__ == "__main__":
    main()
