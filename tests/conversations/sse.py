"""A small Server-Sent Events client over a raw socket, for tests against a real server.

HTTP/1.0, so the server answers without chunked encoding and the body is the bare stream.
Every read has a socket time-out, so a test that waits for a frame that never comes fails
instead of hanging.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass, field


@dataclass
class Frame:
    event: str | None = None
    id: int | None = None
    data: object = None
    comments: list[str] = field(default_factory=list)
    retry: int | None = None
    received_at: float = 0.0

    @property
    def is_heartbeat(self) -> bool:
        return "heartbeat" in self.comments


class SSEClient:
    def __init__(self, host: str, port: int, path: str, headers: dict | None = None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        lines = [f"GET {path} HTTP/1.0", f"Host: {host}:{port}", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.file = self.sock.makefile("rb")
        status_line = self.file.readline().decode()
        assert status_line.startswith("HTTP/"), status_line
        self.status = int(status_line.split()[1])
        self.headers: dict[str, str] = {}
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    def json(self):
        """The whole (non-stream) body as JSON, for error responses."""
        return json.loads(self.file.read())

    def next_frame(self) -> Frame | None:
        """The next frame, or None at the end of the stream."""
        frame = Frame()
        data_lines: list[str] = []
        seen = False
        while True:
            raw = self.file.readline()
            if not raw:
                return None
            line = raw.decode().rstrip("\r\n")
            if line == "":
                if seen:
                    frame.received_at = time.monotonic()
                    if data_lines:
                        frame.data = json.loads("\n".join(data_lines))
                    return frame
                continue
            seen = True
            if line.startswith(":"):
                frame.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data_lines.append(value)
            elif name == "id":
                frame.id = int(value)
            elif name == "event":
                frame.event = value
            elif name == "retry":
                frame.retry = int(value)

    def read_until(self, predicate, limit: int = 500) -> list[Frame]:
        """Frames up to and including the first that satisfies ``predicate``."""
        frames = []
        for _ in range(limit):
            frame = self.next_frame()
            assert frame is not None, f"the stream ended before the frame came: {frames}"
            frames.append(frame)
            if predicate(frame):
                return frames
        raise AssertionError(f"no matching frame in {limit} frames: {frames}")

    def close(self) -> None:
        # shutdown() first: it also wakes a thread blocked reading this socket.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def is_message(frame: Frame, type_: str | None = None) -> bool:
    return (
        frame.event == "message"
        and isinstance(frame.data, dict)
        and (type_ is None or frame.data.get("type") == type_)
    )
