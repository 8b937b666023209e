"""The sliding-window rate limiters: in memory (one process) and in Redis (shared)."""

from __future__ import annotations

import time

import pytest

from asthron.ratelimit import MemoryRateLimiter, RedisRateLimiter, make_rate_limiter


def wait_until_allowed(limiter, bucket, key, limit, window, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if limiter.hit(bucket, key, limit, window):
            return True
        time.sleep(0.02)
    return False


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limiter(request):
    if request.param == "memory":
        return MemoryRateLimiter()
    return RedisRateLimiter(request.getfixturevalue("redis_url"))


def test_limit_then_refuse_then_allow_again_after_the_window(limiter):
    assert [limiter.hit("msg", "v1", 3, 0.3) for _ in range(4)] == [True, True, True, False]
    # Refused hits do not count: the window only holds the three allowed ones.
    assert limiter.hit("msg", "v2", 3, 0.3) is True  # another key
    assert limiter.hit("other", "v1", 3, 0.3) is True  # another bucket
    assert wait_until_allowed(limiter, "msg", "v1", 3, 0.3)


@pytest.mark.redis
def test_redis_windows_are_shared_between_processes(redis_url):
    first, second = RedisRateLimiter(redis_url), RedisRateLimiter(redis_url)
    assert first.hit("sessions", "198.51.100.7", 2, 60)
    assert second.hit("sessions", "198.51.100.7", 2, 60)
    assert not first.hit("sessions", "198.51.100.7", 2, 60)
    assert not second.hit("sessions", "198.51.100.7", 2, 60)
    second.reset()
    assert first.hit("sessions", "198.51.100.7", 2, 60)


def test_backend_follows_the_notifier_setting(redis_url):
    from asthron.settings import AppSettings

    base = {"database_url": "sqlite://", "huey_url": "sqlite://", "secrets_file": "x"}
    assert isinstance(make_rate_limiter(AppSettings(**base)), MemoryRateLimiter)
    shared = make_rate_limiter(AppSettings(**base, notifier="redis", redis_url=redis_url))
    assert isinstance(shared, RedisRateLimiter)
