"""Sliding-window rate limits, in process memory or shared through Redis.

Memory is right for one web process. With several processes (notifier = redis) the windows
live in Redis so a visitor cannot multiply their allowance by the number of processes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class MemoryRateLimiter:
    def __init__(self):
        self._lock = threading.Lock()
        self._hits: dict[str, deque] = defaultdict(deque)
        self._calls = 0

    def hit(self, bucket: str, key: str, limit: int, window: float) -> bool:
        """Count one hit; False when the key already had ``limit`` hits in ``window`` s."""
        now = time.monotonic()
        name = f"{bucket}:{key}"
        with self._lock:
            hits = self._hits[name]
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                return False
            hits.append(now)
            self._calls += 1
            if self._calls % 10_000 == 0:
                self._forget_idle(now)
            return True

    def _forget_idle(self, now: float) -> None:
        for name in [n for n, h in self._hits.items() if not h or h[-1] < now - 3600]:
            del self._hits[name]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class RedisRateLimiter:
    # One round trip: trim the window, count, and add this hit only when under the limit.
    SCRIPT = """
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
    if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
    redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
    redis.call('PEXPIRE', KEYS[1], math.ceil(ARGV[2]))
    return 1
    """

    def __init__(self, url: str):
        import redis

        self._client = redis.Redis.from_url(url)
        self._script = self._client.register_script(self.SCRIPT)
        self._counter = 0
        self._lock = threading.Lock()

    def hit(self, bucket: str, key: str, limit: int, window: float) -> bool:
        with self._lock:
            self._counter += 1
            member = f"{time.time_ns()}-{self._counter}"
        now_ms = time.time() * 1000
        return bool(
            self._script(
                keys=[f"asthron:rl:{bucket}:{key}"], args=[now_ms, window * 1000, limit, member]
            )
        )

    def reset(self) -> None:
        for key in self._client.scan_iter("asthron:rl:*"):
            self._client.delete(key)


def make_rate_limiter(settings):
    if settings.notifier == "redis":
        return RedisRateLimiter(settings.redis_url)
    return MemoryRateLimiter()
