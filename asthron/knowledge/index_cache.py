"""The in-memory search indexes, one per database: the newest, with what it was built from."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

Index = TypeVar("Index")


class LatestPerDatabase(Generic[Index]):
    """Each database's index with the stamp it was built for (its knowledge base's
    fingerprint, and whatever else it depends on).

    An index built for an older stamp can never be used again, so a new one replaces it.
    Kept beside it (the caches held the last 8 vector and 16 lexical indexes, whatever their
    database), the stale ones of a knowledge base being edited filled the cache: a lexical
    index of 5,000 passages is about 200 MB. ``databases``: how many databases are kept (one
    in production; the tests use many).
    """

    def __init__(self, databases: int = 4):
        self._entries: OrderedDict[str, tuple[Hashable, Index]] = OrderedDict()
        self._databases = databases
        self._lock = threading.Lock()

    def get(self, database: str, stamp: Hashable) -> Index | None:
        """The database's index if it was built for ``stamp``, else None."""
        with self._lock:
            entry = self._entries.get(database)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(database)
            return entry[1]

    def put(self, database: str, stamp: Hashable, index: Index) -> None:
        with self._lock:
            self._entries[database] = (stamp, index)
            self._entries.move_to_end(database)
            while len(self._entries) > self._databases:
                self._entries.popitem(last=False)

    def cached(self, database: str) -> list[Index]:
        """What is kept for ``database``: at most one index."""
        with self._lock:
            entry = self._entries.get(database)
            return [] if entry is None else [entry[1]]
