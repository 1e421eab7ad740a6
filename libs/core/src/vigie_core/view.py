"""A materialised view of a compacted topic: the latest message of every key.

Services fold the cameras, rules and watchlist topics into views; a record sets a key and a
tombstone removes it, exactly what Kafka's compaction keeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from vigie_core.codec import Event

M = TypeVar("M", bound=Message)


class CompactedView(Generic[M]):
    def __init__(self) -> None:
        self._latest: dict[str, M] = {}

    def apply(self, key: str, message: M | None) -> None:
        if message is None:
            self._latest.pop(key, None)
        else:
            self._latest[key] = message

    async def handle(self, event: Event[Any]) -> None:
        """A subscription handler that folds the event into the view."""
        self.apply(event.key or "", event.message)

    def get(self, key: str) -> M | None:
        return self._latest.get(key)

    def __len__(self) -> int:
        return len(self._latest)

    def __iter__(self) -> Iterator[M]:
        return (self._latest[k] for k in sorted(self._latest))
