"""The notifier: wakes event streams and carries ephemeral messages (token deltas, typing).

The notifier is not where data lives: a stream reads events from the database after the id it
last sent, and uses the notifier only to know when to look again. Token deltas and typing
indicators are the exception: they are published live and never stored.

Backends:
- ``memory``: one process; a dict of subscriber queues guarded by a lock.
- ``postgresql``: LISTEN/NOTIFY, for several web processes sharing one PostgreSQL.
- ``redis``: pub/sub, for several web processes (or machines) sharing one Redis.

Every backend delivers into the same in-process ``LocalHub``; the external ones add a
listener thread that feeds it with what other processes published.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict

from asthron.db import add_session_info
from asthron.settings import SettingsError

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "asthron"
MAX_QUEUED = 1000  # per subscriber; a stuck stream drops ephemeral messages, never events


def hand_over_the_interpreter() -> None:
    """Let another thread that is ready to run take the interpreter lock now.

    After handing on the first token of a reply, the thread that did it would keep the lock
    for the rest of what it has buffered (the next chunks, the next deltas), and the thread
    that carries the token on towards the visitor would wait for it: up to a millisecond or
    more on a small machine. A sleep releases the lock; a tenth of a millisecond is enough for
    the waiting thread to take it.
    """
    time.sleep(0.0001)


class Subscription:
    """A queue of messages for one stream; close it when the stream ends."""

    def __init__(self, hub: LocalHub, channels: tuple[str, ...]):
        self._hub = hub
        self.channels = channels
        self.queue: queue.Queue = queue.Queue(maxsize=MAX_QUEUED)

    def get(self, timeout: float) -> dict | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def drain(self) -> list[dict]:
        items = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                return items

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalHub:
    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, *channels: str) -> Subscription:
        subscription = Subscription(self, channels)
        with self._lock:
            for channel in channels:
                self._subscribers[channel].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            for channel in subscription.channels:
                subscribers = self._subscribers.get(channel)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._subscribers[channel]

    def deliver(self, channel: str, message: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(channel, ()))
        for subscription in subscribers:
            try:
                subscription.queue.put_nowait(message)
            except queue.Full:
                log.warning("dropping a message for a stuck subscriber on %s", channel)

    def subscriber_count(self, channel: str | None = None) -> int:
        with self._lock:
            if channel is None:
                return len({s for subs in self._subscribers.values() for s in subs})
            return len(self._subscribers.get(channel, ()))


class Notifier:
    """In-process notifier: the default for one web process."""

    backend = "memory"

    def __init__(self):
        self.hub = LocalHub()
        self.origin = uuid.uuid4().hex

    def subscribe(self, *channels: str) -> Subscription:
        return self.hub.subscribe(*channels)

    def publish(self, channel: str, message: dict) -> None:
        self.hub.deliver(channel, message)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class _BusNotifier(Notifier):
    """Publishes to an external bus; a listener thread delivers what arrives to local streams.

    Messages from this process are delivered locally at once and skipped when they come back
    from the bus, so a local stream is not woken twice.
    """

    def __init__(self):
        super().__init__()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def publish(self, channel: str, message: dict) -> None:
        self.hub.deliver(channel, message)
        payload = json.dumps({"o": self.origin, "c": channel, "m": message}, separators=(",", ":"))
        try:
            self._send(payload)
        except Exception:
            # Streams on other processes still catch up on their next heartbeat poll.
            log.exception("could not publish to the %s notifier", self.backend)

    def _receive(self, payload: str) -> None:
        try:
            data = json.loads(payload)
        except ValueError:
            return
        if data.get("o") == self.origin:
            return
        self.hub.deliver(data["c"], data["m"])

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._listen_forever, name=f"notifier-{self.backend}", daemon=True
            )
            self._thread.start()
            self._ready.wait(timeout=5)

    def stop(self) -> None:
        self._stopping.set()

    def _listen_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen()
            except Exception:
                log.exception("%s notifier listener failed; reconnecting", self.backend)
                time.sleep(1)


class PostgresNotifier(_BusNotifier):
    backend = "postgresql"
    CHANNEL = "asthron_events"
    MAX_PAYLOAD = 7900  # NOTIFY payloads are limited to 8000 bytes

    def __init__(self, database_url: str):
        super().__init__()
        self._dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._send_lock = threading.Lock()
        self._send_conn = None

    def _send(self, payload: str) -> None:
        import psycopg

        if len(payload.encode()) > self.MAX_PAYLOAD:
            log.warning("notifier payload too large for NOTIFY; dropped")
            return
        with self._send_lock:
            if self._send_conn is None or self._send_conn.closed:
                self._send_conn = psycopg.connect(self._dsn, autocommit=True)
            try:
                self._send_conn.execute("SELECT pg_notify(%s, %s)", (self.CHANNEL, payload))
            except psycopg.OperationalError:
                self._send_conn = psycopg.connect(self._dsn, autocommit=True)
                self._send_conn.execute("SELECT pg_notify(%s, %s)", (self.CHANNEL, payload))

    def _listen(self) -> None:
        import psycopg

        with psycopg.connect(self._dsn, autocommit=True) as connection:
            connection.execute(f"LISTEN {self.CHANNEL}")
            self._ready.set()
            while not self._stopping.is_set():
                for notify in connection.notifies(timeout=1.0):
                    self._receive(notify.payload)


class RedisNotifier(_BusNotifier):
    backend = "redis"
    CHANNEL = "asthron:events"

    def __init__(self, redis_url: str):
        super().__init__()
        import redis

        self._client = redis.Redis.from_url(redis_url)
        self._redis_url = redis_url
        # Pub/sub channels are shared by every database of a Redis server: name the channel
        # after the database, so two installs (or test runs) on one server never cross.
        db = self._client.connection_pool.connection_kwargs.get("db", 0)
        self.channel = f"{self.CHANNEL}:{db}"

    def _send(self, payload: str) -> None:
        self._client.publish(self.channel, payload)

    def _listen(self) -> None:
        import redis

        client = redis.Redis.from_url(self._redis_url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.channel)
        self._ready.set()
        try:
            while not self._stopping.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message["type"] == "message":
                    data = message["data"]
                    self._receive(data.decode() if isinstance(data, bytes) else data)
        finally:
            pubsub.close()
            client.close()


def make_notifier(settings) -> Notifier:
    if settings.notifier == "postgresql":
        if not settings.database_url.startswith("postgresql"):
            raise SettingsError("asthron.notifier = postgresql needs a PostgreSQL database_url")
        return PostgresNotifier(settings.database_url)
    if settings.notifier == "redis":
        return RedisNotifier(settings.redis_url)
    return Notifier()


def conversation_channel(conversation_id: int) -> str:
    return f"conversation:{conversation_id}"


INBOX_CHANNEL = "inbox"


def includeme(config):
    notifier = make_notifier(config.registry["app_settings"])
    notifier.start()
    config.registry["notifier"] = notifier
    # Sessions carry the notifier, so services can wake streams after their commit.
    add_session_info(config, notifier=notifier)
    config.add_request_method(lambda r: r.registry["notifier"], "notifier", reify=True)


def notifier_for_session(db) -> Notifier | None:
    return db.info.get("notifier")
