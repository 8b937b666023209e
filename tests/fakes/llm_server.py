"""A local fake of the three model APIs, speaking their real wire protocols on 127.0.0.1.

One server answers all of them, so the real client libraries can be pointed at it:

* OpenAI-compatible: ``POST /v1/chat/completions`` (SSE ``data:`` chunks, a usage chunk, then
  ``data: [DONE]``; plain JSON when ``stream`` is false) and ``GET /v1/models``.
* Ollama: ``POST /api/chat`` (NDJSON lines, the last ``done: true`` with the token counts) and
  ``GET /api/tags``.
* Anthropic: ``POST /v1/messages`` (SSE events ``message_start`` … ``message_stop``) and
  ``GET /v1/models`` (told apart from OpenAI's by the ``anthropic-version`` header).
* Embeddings: OpenAI's ``POST /v1/embeddings`` and Ollama's ``POST /api/embed``, with
  deterministic vectors (``fake_embedding``: hashed words and character trigrams, seeded by
  the model's name, so another model gives other vectors).

Streams use chunked transfer encoding, as the real servers do, so a socket closed midway is an
incomplete body to the client. ``scenario`` picks the behaviour; every request is recorded.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SCENARIOS = (
    "normal",  # the reply, split into ``chunks`` pieces
    "slow_first_token",  # wait ``first_token_delay`` seconds before the first text
    "disconnect",  # send ``good_chunks`` pieces of text, then close the socket
    "401",
    "429",  # with Retry-After: ``retry_after``
    "500",
    "malformed",  # send ``good_chunks`` pieces, then a line of invalid JSON
    # Plain JSON answers (embeddings, model lists, replies not streamed) a byte at a time,
    # ``chunk_delay`` seconds apart: every read gets something, the whole takes minutes.
    "drip",  # the body
    "drip_headers",  # the status line and headers too
)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class FakeLLMServer:
    """Settable knobs; start() serves them on an ephemeral port, stop() ends it."""

    scenario: str = "normal"
    reply: str = "Hello! We are open from nine to five, Monday to Friday."
    chunks: int = 4
    first_token_delay: float = 0.0
    chunk_delay: float = 0.0
    good_chunks: int = 2
    retry_after: str = "7"
    # An OpenAI-compatible server that knows json_object but answers 400 to json_schema.
    reject_json_schema: bool = False
    input_tokens: int = 11
    output_tokens: int = 7
    # The tokens the embedding endpoints say they read; None: the words of the input.
    embedding_tokens: int | None = None
    openai_models: list[str] = field(default_factory=lambda: ["gpt-test", "other-model"])
    ollama_models: list[str] = field(default_factory=lambda: ["llama-test:latest", "qwen:7b"])
    anthropic_models: list[str] = field(default_factory=lambda: ["claude-test", "claude-other"])
    requests: list[RecordedRequest] = field(default_factory=list)
    # (texts, model) -> vectors for the embedding endpoints; None: ``fake_embedding``. The
    # benchmark plugs a real local embedding model in here (bench/answers.py).
    embed_texts: Callable[[list[str], str], list[list[float]]] | None = None
    # Serve the APIs under this path, as behind a reverse proxy ("/proxy/ollama"); requests
    # are recorded without it.
    path_prefix: str = ""

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._recorded = threading.Condition(self._lock)  # notified on every request

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeLLMServer:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are sleeping in a slow scenario
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start() the server first"
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.url}/v1"

    # --- what the tests read ----------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._recorded:
            self.requests.append(request)
            self._recorded.notify_all()

    def wait_until(self, predicate, timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds, looking again as each request arrives; False
        if it still does not after ``timeout`` seconds."""
        with self._recorded:
            return self._recorded.wait_for(lambda: predicate(self), max(0.0, timeout))

    def bodies(self, path: str) -> list[Any]:
        with self._lock:
            return [r.body for r in self.requests if r.path == path]

    def last(self, path: str) -> RecordedRequest:
        with self._lock:
            matching = [r for r in self.requests if r.path == path]
        assert matching, f"no request to {path}"
        return matching[-1]

    def pieces(self) -> list[str]:
        """The reply split into ``chunks`` consecutive pieces."""
        count = max(1, min(self.chunks, len(self.reply) or 1))
        size, extra = divmod(len(self.reply), count)
        out, start = [], 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            out.append(self.reply[start:end])
            start = end
        return out

    def sleep(self, seconds: float) -> bool:
        """Sleep unless the server stops first; True when it is stopping."""
        return self._stopping.wait(seconds) if seconds > 0 else self._stopping.is_set()


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: a provider that is down."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


EMBEDDING_DIMENSIONS = 96
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


def fake_embedding(text: str, model: str = "embed-test", dimensions: int = EMBEDDING_DIMENSIONS):
    """A deterministic unit vector: each word and each of its character trigrams adds ±1 to
    a dimension chosen by a hash seeded with the model's name. Texts sharing words or word
    pieces point the same way, as a real embedding model's roughly do."""
    vector = [0.0] * dimensions
    for word in _WORD_RE.findall(text.lower()):
        padded = f"#{word}#"
        features = [word] + [padded[i : i + 3] for i in range(len(padded) - 2)]
        for feature in features:
            digest = hashlib.blake2b(f"{model}|{feature}".encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class _Disconnect(Exception):
    """Raised inside a handler to drop the connection without finishing the body."""


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def handle(self) -> None:
        # A client that gave up (a timeout test) resets its kept-alive connection: not an error.
        with contextlib.suppress(ConnectionError):
            super().handle()

    # --- dispatch ---------------------------------------------------------------------------

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = self.path.split("?", 1)[0]
        prefix = self.fake.path_prefix
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix) :]
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.fake.record(RecordedRequest(method, path, headers, body))
        protocol = self._protocol(method, path, headers)
        try:
            if protocol is None:
                self._json(404, {"error": f"no route {method} {path}"})
            elif self.fake.scenario in ("401", "429", "500"):
                self._error(protocol, int(self.fake.scenario))
            elif self._refuses_json_schema(protocol, body):
                self._json(
                    400,
                    {
                        "error": {
                            "message": "response_format json_schema is not supported",
                            "type": "invalid_request_error",
                        }
                    },
                )
            elif path in ("/v1/embeddings", "/api/embed"):
                self._embed(protocol, body if isinstance(body, dict) else {})
            elif path.endswith("/models") or path == "/api/tags":
                self._models(protocol)
            elif isinstance(body, dict) and body.get("stream") is False:
                self._complete(protocol, body)
            elif protocol == "anthropic" and not (isinstance(body, dict) and body.get("stream")):
                self._complete(protocol, body or {})
            else:
                self._stream(protocol, body if isinstance(body, dict) else {})
        except (_Disconnect, BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            self._drop()

    def _refuses_json_schema(self, protocol: str, body: Any) -> bool:
        if protocol != "openai" or not self.fake.reject_json_schema or not isinstance(body, dict):
            return False
        return (body.get("response_format") or {}).get("type") == "json_schema"

    @staticmethod
    def _protocol(method: str, path: str, headers: dict[str, str]) -> str | None:
        if method == "POST" and path == "/v1/chat/completions":
            return "openai"
        if method == "POST" and path == "/api/chat":
            return "ollama"
        if method == "POST" and path == "/v1/messages":
            return "anthropic"
        if method == "GET" and path == "/api/tags":
            return "ollama"
        if method == "POST" and path == "/v1/embeddings":
            return "openai"
        if method == "POST" and path == "/api/embed":
            return "ollama"
        if method == "GET" and path == "/v1/models":
            return "anthropic" if "anthropic-version" in headers else "openai"
        return None

    # --- plain responses --------------------------------------------------------------------

    def _json(self, status: int, payload: Any, extra_headers: dict[str, str] | None = None):
        data = json.dumps(payload).encode()
        if self.fake.scenario in ("drip", "drip_headers"):
            self._drip(status, data, extra_headers or {})
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drip(self, status: int, data: bytes, extra_headers: dict[str, str]) -> None:
        head = [
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{name}: {value}" for name, value in extra_headers.items()),
        ]
        raw_head = ("\r\n".join(head) + "\r\n\r\n").encode()
        if self.fake.scenario == "drip":
            self.wfile.write(raw_head)
            dripped = data
        else:
            dripped = raw_head + data
        for byte in dripped:
            if self.fake.sleep(self.fake.chunk_delay):
                raise _Disconnect
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def _error(self, protocol: str, status: int) -> None:
        message = {401: "invalid api key", 429: "rate limit reached", 500: "internal error"}[status]
        headers = {"Retry-After": self.fake.retry_after} if status == 429 else {}
        if protocol == "openai":
            payload: Any = {"error": {"message": message, "type": "error", "code": str(status)}}
        elif protocol == "ollama":
            payload = {"error": message}
        else:
            error_type = {401: "authentication_error", 429: "rate_limit_error", 500: "api_error"}[
                status
            ]
            payload = {"type": "error", "error": {"type": error_type, "message": message}}
        self._json(status, payload, headers)

    def _embed(self, protocol: str, body: dict) -> None:
        model = str(body.get("model") or "")
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not model or not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            self._json(400, {"error": "model and input (text or list of texts) are required"})
            return
        if self.fake.embed_texts is not None:
            vectors = [list(map(float, v)) for v in self.fake.embed_texts(texts, model)]
        else:
            vectors = [fake_embedding(t, model) for t in texts]
        tokens = self.fake.embedding_tokens
        if tokens is None:
            tokens = sum(len(t.split()) for t in texts)
        if protocol == "ollama":
            self._json(
                200,
                {
                    "model": model,
                    "embeddings": vectors,
                    "total_duration": 1000,
                    "load_duration": 10,
                    "prompt_eval_count": tokens,
                },
            )
            return

        def encoded(vector):
            if body.get("encoding_format") == "base64":
                packed = struct.pack(f"<{len(vector)}f", *vector)
                return base64.b64encode(packed).decode()
            return vector

        self._json(
            200,
            {
                "object": "list",
                "data": [
                    {"object": "embedding", "index": i, "embedding": encoded(v)}
                    for i, v in enumerate(vectors)
                ],
                "model": model,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _models(self, protocol: str) -> None:
        fake = self.fake
        if protocol == "openai":
            self._json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": name,
                            "object": "model",
                            "created": 1_700_000_000,
                            "owned_by": "fake",
                        }
                        for name in fake.openai_models
                    ],
                },
            )
        elif protocol == "ollama":
            self._json(
                200,
                {
                    "models": [
                        {
                            "name": name,
                            "model": name,
                            "modified_at": "2026-01-01T00:00:00Z",
                            "size": 1234,
                            "digest": "0" * 64,
                            "details": {"family": "fake"},
                        }
                        for name in fake.ollama_models
                    ]
                },
            )
        else:
            names = fake.anthropic_models
            self._json(
                200,
                {
                    "data": [
                        {
                            "type": "model",
                            "id": name,
                            "display_name": name,
                            "created_at": "2026-01-01T00:00:00Z",
                        }
                        for name in names
                    ],
                    "has_more": False,
                    "first_id": names[0] if names else None,
                    "last_id": names[-1] if names else None,
                },
            )

    def _complete(self, protocol: str, body: dict) -> None:
        """A non-streamed reply, with the same scenarios where they make sense."""
        fake = self.fake
        model = body.get("model", "")
        if fake.scenario == "slow_first_token" and fake.sleep(fake.first_token_delay):
            raise _Disconnect
        if fake.scenario == "disconnect":
            raise _Disconnect
        if fake.scenario == "malformed":
            data = b'{"id": "broken", "choices": [ {'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if protocol == "openai":
            self._json(
                200,
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": fake.reply},
                        }
                    ],
                    "usage": {
                        "prompt_tokens": fake.input_tokens,
                        "completion_tokens": fake.output_tokens,
                        "total_tokens": fake.input_tokens + fake.output_tokens,
                    },
                },
            )
        elif protocol == "ollama":
            self._json(
                200,
                {
                    "model": model,
                    "created_at": "2026-01-01T00:00:00Z",
                    "message": {"role": "assistant", "content": fake.reply},
                    "done": True,
                    "done_reason": "stop",
                    "prompt_eval_count": fake.input_tokens,
                    "eval_count": fake.output_tokens,
                },
            )
        else:
            self._json(
                200,
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": fake.reply}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": fake.input_tokens,
                        "output_tokens": fake.output_tokens,
                    },
                },
            )

    # --- streams ----------------------------------------------------------------------------

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: str) -> None:
        raw = data.encode()
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _drop(self) -> None:
        """Close the socket at once: the client sees a body that stops midway."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _stream(self, protocol: str, body: dict) -> None:
        fake = self.fake
        model = body.get("model", "")
        encode = {"openai": _OpenAIStream, "ollama": _OllamaStream, "anthropic": _AnthropicStream}[
            protocol
        ](fake, model)
        self._start_stream(encode.content_type)
        for frame in encode.preamble():
            self._chunk(frame)
        pieces = fake.pieces()
        for index, piece in enumerate(pieces):
            if index == 0 and fake.scenario == "slow_first_token":
                if fake.sleep(fake.first_token_delay):
                    raise _Disconnect
            elif index and fake.sleep(fake.chunk_delay):
                raise _Disconnect
            if fake.scenario in ("disconnect", "malformed") and index == fake.good_chunks:
                if fake.scenario == "disconnect":
                    raise _Disconnect
                self._chunk(encode.malformed())
                break
            self._chunk(encode.text(piece))
        for frame in encode.ending():
            self._chunk(frame)
        self._end_stream()


class _OpenAIStream:
    content_type = "text/event-stream"

    def __init__(self, fake: FakeLLMServer, model: str):
        self.fake, self.model = fake, model

    def _event(self, choices: list, usage: dict | None = None) -> str:
        chunk = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.model,
            "choices": choices,
            "usage": usage,
        }
        return f"data: {json.dumps(chunk)}\n\n"

    def preamble(self) -> list[str]:
        return [
            self._event(
                [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
            )
        ]

    def text(self, piece: str) -> str:
        return self._event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])

    def malformed(self) -> str:
        return 'data: {"id": "chatcmpl-fake", "choices": [{"delta": {"content": "oops"\n\n'

    def ending(self) -> list[str]:
        fake = self.fake
        usage = {
            "prompt_tokens": fake.input_tokens,
            "completion_tokens": fake.output_tokens,
            "total_tokens": fake.input_tokens + fake.output_tokens,
        }
        return [
            self._event([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            self._event([], usage),
            "data: [DONE]\n\n",
        ]


class _OllamaStream:
    content_type = "application/x-ndjson"

    def __init__(self, fake: FakeLLMServer, model: str):
        self.fake, self.model = fake, model

    def _line(self, content: str, **extra: Any) -> str:
        line = {
            "model": self.model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": content},
            "done": False,
            **extra,
        }
        return json.dumps(line) + "\n"

    def preamble(self) -> list[str]:
        return []

    def text(self, piece: str) -> str:
        return self._line(piece)

    def malformed(self) -> str:
        return '{"model": "x", "message": {"role": "assistant", "content": "oops"\n'

    def ending(self) -> list[str]:
        fake = self.fake
        return [
            self._line(
                "",
                done=True,
                done_reason="stop",
                total_duration=1000,
                prompt_eval_count=fake.input_tokens,
                eval_count=fake.output_tokens,
            )
        ]


class _AnthropicStream:
    content_type = "text/event-stream"

    def __init__(self, fake: FakeLLMServer, model: str):
        self.fake, self.model = fake, model

    @staticmethod
    def _event(name: str, data: dict) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    def preamble(self) -> list[str]:
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": self.model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": self.fake.input_tokens, "output_tokens": 1},
        }
        return [
            self._event("message_start", {"type": "message_start", "message": message}),
            self._event(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            self._event("ping", {"type": "ping"}),
        ]

    def text(self, piece: str) -> str:
        return self._event(
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )

    def malformed(self) -> str:
        return 'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n'

    def ending(self) -> list[str]:
        return [
            self._event("content_block_stop", {"type": "content_block_stop", "index": 0}),
            self._event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": self.fake.output_tokens},
                },
            ),
            self._event("message_stop", {"type": "message_stop"}),
        ]
