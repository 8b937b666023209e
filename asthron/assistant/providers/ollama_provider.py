"""Ollama through the ``ollama`` package: /api/chat as NDJSON, /api/tags for the models.

Usage comes from ``prompt_eval_count`` / ``eval_count`` in the final (``done``) line. Structured
output uses Ollama's native ``format`` with the JSON schema.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator

import httpx
import ollama
import pydantic

from asthron.assistant.providers._common import (
    BodyDeadline,
    StreamState,
    as_dicts,
    read_timeout,
    split_system,
)
from asthron.assistant.providers.base import (
    ChatMessage,
    Completion,
    Delta,
    GenerationOptions,
    HealthResult,
    ProviderError,
    StreamItem,
    reported_tokens,
    request_hooks,
    timed_health,
    validate_structured,
)

DEFAULT_HOST = "http://127.0.0.1:11434"


class OllamaProvider:
    kind = "ollama"

    def __init__(
        self,
        model: str,
        base_url: str = "",
        api_key: str | None = None,
        keep_alive: str | float | None = None,
        defaults: GenerationOptions | None = None,
        ssrf_allowlist: Iterable[str] | None = None,
    ):
        """``ssrf_allowlist``: for a base URL typed in the dashboard, connect only to checked
        addresses (see ``base.request_hooks``)."""
        self._request_hooks = request_hooks(ssrf_allowlist)
        self.model = model
        host = (base_url or DEFAULT_HOST).rstrip("/")
        for suffix in ("/api", "/v1"):  # the API root, not an endpoint prefix
            host = host.removesuffix(suffix)
        self.host = host
        self.keep_alive = _keep_alive(keep_alive)
        self.defaults = defaults or GenerationOptions()
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # ``ollama.ResponseError`` drops the headers; a response hook keeps Retry-After.
        self._last = threading.local()
        self._body_deadline = BodyDeadline(httpx)
        self._clients: dict[tuple[float, float], ollama.Client] = {}
        self._lock = threading.Lock()
        self._client(self.defaults.timeouts.connect, read_timeout(self.defaults.timeouts))

    def _client(self, connect: float, read: float) -> ollama.Client:
        """One client per timeout pair: the package takes the timeout per client, not call."""
        key = (connect, read)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    client = ollama.Client(
                        host=self.host,
                        timeout=httpx.Timeout(
                            connect=connect, read=read, write=max(connect, 10.0), pool=connect
                        ),
                        headers=self._headers,
                        event_hooks={
                            "request": self._request_hooks,
                            "response": [self._remember, self._body_deadline],
                        },
                        # The package follows redirects by default; one could lead a checked
                        # public address to a private one (SSRF).
                        follow_redirects=False,
                    )
                except Exception as exc:
                    message = f"{self.kind}: invalid configuration: {exc}"
                    raise ProviderError("bad_request", message) from None
                self._clients[key] = client
            return client

    def _remember(self, response: httpx.Response) -> None:
        self._last.headers = dict(response.headers)

    def _request_options(self, options: GenerationOptions) -> dict:
        return {"temperature": options.temperature, "num_predict": options.max_tokens}

    # --- chat -------------------------------------------------------------------------------

    def stream_chat(
        self,
        messages: list[ChatMessage],
        options: GenerationOptions | None = None,
        grounding: object = None,
    ) -> Iterator[StreamItem]:
        # ``grounding`` is for the built-in provider; the prompt already carries the passages.
        options = options or self.defaults
        state = StreamState(self.kind, options.timeouts)
        client = self._client(options.timeouts.connect, read_timeout(options.timeouts))
        self._last.headers = {}
        stream = None
        try:
            try:
                stream = client.chat(
                    model=self.model,
                    messages=as_dicts(messages),
                    stream=True,
                    options=self._request_options(options),
                    keep_alive=self.keep_alive,
                )
            except Exception as exc:
                raise self._map_error(exc, state) from None
            finished = False
            while True:
                try:
                    part = next(stream)
                except StopIteration:
                    break
                except Exception as exc:
                    raise self._map_error(exc, state) from None
                state.check_deadline()
                try:
                    text = part.message.content or ""
                    if not isinstance(text, str):
                        raise TypeError("message content is not text")
                    if part.model:
                        state.model = str(part.model)
                    if part.done:
                        finished = True
                        state.input_tokens = part.prompt_eval_count or 0
                        state.output_tokens = part.eval_count or 0
                except Exception as exc:
                    raise state.error("bad_response", f"malformed stream line: {exc}") from None
                if text:
                    state.add(text)
                    yield Delta(text)
                if finished:
                    break
            if not finished:
                raise state.error("bad_response", "the stream ended before the reply was complete")
            yield Completion(
                state.text,
                state.usage(messages),
                state.model or self.model,
            )
        finally:
            if stream is not None:
                with contextlib.suppress(Exception):  # closes the HTTP response
                    stream.close()

    # --- structured output ------------------------------------------------------------------

    def structured(
        self, messages: list[ChatMessage], schema: dict, options: GenerationOptions | None = None
    ) -> dict:
        """Ollama's native structured output: ``format`` is the JSON schema."""
        options = options or self.defaults
        state = StreamState(self.kind, options.timeouts)
        system, rest = split_system(messages)
        instruction = (
            "Answer with one JSON object only, no prose, matching this JSON schema:\n"
            + json.dumps(schema)
        )
        system = f"{system}\n\n{instruction}" if system else instruction
        # Not streamed, so the whole reply arrives at once: the read may wait the total.
        client = self._client(options.timeouts.connect, options.timeouts.total)
        self._last.headers = {}
        try:
            response = client.chat(
                model=self.model,
                messages=as_dicts([ChatMessage("system", system), *rest]),
                stream=False,
                format=schema,
                options=self._request_options(options),
                keep_alive=self.keep_alive,
            )
            text = response.message.content or ""
        except Exception as exc:
            raise self._map_error(exc, state) from None
        return validate_structured(text, schema)

    # --- health and models ------------------------------------------------------------------

    def embed(self, texts: list[str], model: str, timeouts=None) -> list[list[float]]:
        """One vector per text from ``/api/embed`` (``model``: the embedding model)."""
        return self.embed_with_usage(texts, model, timeouts)[0]

    def embed_with_usage(
        self, texts: list[str], model: str, timeouts=None
    ) -> tuple[list[list[float]], int | None]:
        """The vectors, and the input tokens Ollama counted (None: not said)."""
        timeouts = timeouts or self.defaults.timeouts
        state = StreamState(self.kind, timeouts)
        try:
            client = self._client(timeouts.connect, timeouts.total)
            with self._body_deadline.until(state.deadline):
                response = client.embed(model=model, input=list(texts), keep_alive=self.keep_alive)
            vectors = [[float(x) for x in row] for row in response.embeddings]
            tokens = getattr(response, "prompt_eval_count", None)
        except Exception as exc:
            raise self._map_error(exc, state) from None
        if len(vectors) != len(texts):
            raise ProviderError("bad_response", f"{self.kind}: wrong number of embeddings")
        return vectors, reported_tokens(tokens)

    def list_models(self) -> list[str]:
        state = StreamState(self.kind, self.defaults.timeouts)
        timeouts = self.defaults.timeouts
        client = self._client(timeouts.connect, read_timeout(timeouts))
        self._last.headers = {}
        try:
            listing = client.list()
            return sorted({str(m.model) for m in listing.models if m.model})
        except Exception as exc:
            raise self._map_error(exc, state) from None

    def health(self) -> HealthResult:
        def check() -> str:
            models = self.list_models()
            wanted = {self.model, f"{self.model}:latest"}
            if not wanted & set(models):
                # Ollama answers 404 for a model it has not pulled: not usable yet.
                raise ProviderError(
                    "bad_request", f"model {self.model!r} is not pulled (ollama pull {self.model})"
                )
            return f"ok, {len(models)} models"

        return timed_health(check)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                with contextlib.suppress(Exception):
                    client.close()
            self._clients.clear()

    # --- errors -----------------------------------------------------------------------------

    def _map_error(self, exc: BaseException, state: StreamState) -> ProviderError:
        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code > 0:
                headers = getattr(self._last, "headers", None) or {}
                return state.from_status(exc.status_code, str(exc.error), headers)
            # An {"error": ...} line inside the stream: the model runner failed.
            return state.error("unavailable", f"the server reported an error: {exc.error}")
        if isinstance(exc, httpx.TimeoutException):
            return state.error("timeout", "the server did not answer in time")
        if isinstance(exc, ConnectionError | httpx.ConnectError):
            return state.error("unavailable", f"cannot reach Ollama at {self.host}")
        if isinstance(exc, httpx.TransportError | OSError):
            return state.error("unavailable", f"the connection broke: {exc}")
        if isinstance(exc, ValueError | pydantic.ValidationError | TypeError | KeyError):
            return state.error("bad_response", f"malformed response: {exc}")
        if isinstance(exc, ollama.RequestError):
            return state.error("bad_request", str(exc.error))
        return state.error("bad_response", f"unexpected failure: {type(exc).__name__}: {exc}")


def _keep_alive(value: str | float | None) -> str | float | None:
    """Ollama reads a number as seconds and a string as a Go duration ("5m"); "-1" means
    forever but is not a valid duration, so numeric strings become numbers."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() else number
    return value
