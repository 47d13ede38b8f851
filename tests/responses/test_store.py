"""The responses store: bounded in count and time, scoped by client key (no sockets)."""

from __future__ import annotations

import pytest

from asgi_spark.config.schema import ResponsesStoreSettings
from asgi_spark.errors import NotFoundError
from asgi_spark.openai_types import ChatMessage
from asgi_spark.responses_store import ResponseStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


HI = [ChatMessage(role="user", content="hi")]


def test_put_and_get() -> None:
    store = ResponseStore(clock=Clock())
    store.put("resp_1", None, HI, b"{}")
    entry = store.get("resp_1", None, param="previous_response_id")
    assert entry.conversation == tuple(HI) and entry.response == b"{}"


def test_unknown_id_is_a_404_naming_the_param() -> None:
    store = ResponseStore(clock=Clock())
    with pytest.raises(NotFoundError) as raised:
        store.get("resp_nope", None, param="previous_response_id")
    assert raised.value.status == 404 and raised.value.param == "previous_response_id"
    assert "resp_nope" in raised.value.message and raised.value.code == "response_not_found"


def test_another_client_key_cannot_read_it() -> None:
    store = ResponseStore(clock=Clock())
    store.put("resp_1", "key-a", HI, b"{}")
    assert store.get("resp_1", "key-a", param="p").response == b"{}"
    for other in ("key-b", None):
        with pytest.raises(NotFoundError):
            store.get("resp_1", other, param="p")
    store.put("resp_2", None, HI, b"{}")
    with pytest.raises(NotFoundError):
        store.get("resp_2", "key-a", param="p")


def test_entries_expire_after_ttl() -> None:
    clock = Clock()
    store = ResponseStore(ttl=60, clock=clock)
    store.put("resp_1", None, HI, b"{}")
    clock.now += 59.9
    store.get("resp_1", None, param="p")
    clock.now += 0.1
    with pytest.raises(NotFoundError):
        store.get("resp_1", None, param="p")
    assert len(store) == 0


def test_the_oldest_go_first_over_max_items() -> None:
    clock = Clock()
    store = ResponseStore(max_items=2, clock=clock)
    for i in range(3):
        store.put(f"resp_{i}", None, HI, b"{}")
    assert len(store) == 2
    with pytest.raises(NotFoundError):
        store.get("resp_0", None, param="p")
    store.get("resp_2", None, param="p")


def test_expired_entries_go_on_the_next_write() -> None:
    clock = Clock()
    store = ResponseStore(ttl=10, clock=clock)
    store.put("resp_old", None, HI, b"{}")
    clock.now += 11
    store.put("resp_new", None, HI, b"{}")
    assert len(store) == 1


def test_configure_applies_new_bounds_and_zero_stores_nothing() -> None:
    store = ResponseStore(clock=Clock())
    for i in range(5):
        store.put(f"resp_{i}", None, HI, b"{}")
    store.configure(ResponsesStoreSettings(max_items=2, ttl=30))
    assert len(store) == 2 and (store.max_items, store.ttl) == (2, 30)
    store.configure(ResponsesStoreSettings(max_items=0, ttl=30))
    assert len(store) == 0
    store.put("resp_x", None, HI, b"{}")
    assert len(store) == 0


def test_delete() -> None:
    store = ResponseStore(clock=Clock())
    store.put("resp_1", "k", HI, b"{}")
    with pytest.raises(NotFoundError):
        store.delete("resp_1", "other")
    store.delete("resp_1", "k")
    assert len(store) == 0
