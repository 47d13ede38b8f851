"""The Responses API's store: what ``previous_response_id`` continues, kept in memory.

Bounded in count (``max_items``: the oldest entry goes first) and in time (``ttl`` seconds
after it was stored), per gateway process: a restart, or another process behind the same load
balancer, does not know the entry.  Each entry belongs to the client key that created it
(``None`` when the gateway has no client keys); another key asking for it is told the same as
for an unknown id, so ids cannot be probed.  Entries hold the conversation as Chat messages
(without ``instructions``, which OpenAI does not carry over either) and the encoded response
object.  Monotonic time; no task: expired entries go on the next write.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from .clock import Clock
from .config.schema import DEFAULT_STORE_ITEMS, DEFAULT_STORE_TTL, ResponsesStoreSettings
from .errors import NotFoundError
from .openai_types import ChatMessage


@dataclass(frozen=True, slots=True)
class StoredResponse:
    response_id: str
    client_key: str | None
    conversation: tuple[ChatMessage, ...]
    response: bytes  # the encoded ``response`` object
    expires: float


class ResponseStore:
    """Stored responses by id; see the module docstring."""

    def __init__(
        self,
        max_items: int = DEFAULT_STORE_ITEMS,
        ttl: float = DEFAULT_STORE_TTL,
        *,
        clock: Clock = time.monotonic,
    ) -> None:
        self.max_items = max_items
        self.ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, StoredResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def configure(self, settings: ResponsesStoreSettings) -> None:
        """Apply (new) settings; entries over the new bound go at once."""
        if (settings.max_items, settings.ttl) == (self.max_items, self.ttl):
            return
        self.max_items, self.ttl = settings.max_items, settings.ttl
        self._evict(self._clock())

    def put(
        self,
        response_id: str,
        client_key: str | None,
        conversation: list[ChatMessage],
        response: bytes,
    ) -> None:
        now = self._clock()
        if self.max_items == 0:
            return
        self._entries[response_id] = StoredResponse(
            response_id, client_key, tuple(conversation), response, now + self.ttl
        )
        self._entries.move_to_end(response_id)
        self._evict(now)

    def get(self, response_id: str, client_key: str | None, *, param: str) -> StoredResponse:
        """The entry, or a 404 naming ``param`` when it is unknown, expired or another key's."""
        entry = self._entries.get(response_id)
        if entry is not None and entry.expires <= self._clock():
            del self._entries[response_id]
            entry = None
        if entry is None or entry.client_key != client_key:
            raise NotFoundError(
                f"no stored response {response_id!r}: it is unknown, expired (responses are "
                f"kept {self.ttl:g} s, at most {self.max_items}, in this gateway process's "
                "memory) or was created with store false or another client key",
                param=param,
                code="response_not_found",
            )
        return entry

    def delete(self, response_id: str, client_key: str | None) -> None:
        self.get(response_id, client_key, param="response_id")
        del self._entries[response_id]

    def _evict(self, now: float) -> None:
        entries = self._entries
        while entries and (
            len(entries) > self.max_items or next(iter(entries.values())).expires <= now
        ):
            entries.popitem(last=False)


__all__ = ["ResponseStore", "StoredResponse"]
