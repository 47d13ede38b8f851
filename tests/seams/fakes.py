"""Scripted adapters and a direct ASGI client for the seam tests (no sockets)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

from asgi_spark.adapters.base import Adapter
from asgi_spark.config import ModelEntry
from asgi_spark.events import ContentDelta, Event, Finish, Started, Usage
from asgi_spark.openai_types import ChatCompletionRequest

HELLO: list[list[Event]] = [
    [Started("sid-1"), ContentDelta("Hel")],
    [ContentDelta("lo"), Finish("stop"), Usage(3, 2, 5)],
]


class ScriptedAdapter(Adapter):
    """Yields the batches of ``script``; a batch ``None`` waits for :attr:`gate`."""

    name = "scripted"
    script: Sequence[list[Event] | None] = HELLO
    gate: asyncio.Event | None = None
    closed: list[str] = []  # noqa: RUF012 - shared on purpose: which adapters were closed

    async def stream(self, request: ChatCompletionRequest) -> AsyncGenerator[list[Event], None]:
        for batch in self.script:
            if batch is None:
                assert self.gate is not None
                await self.gate.wait()
                continue
            yield batch

    async def aclose(self) -> None:
        ScriptedAdapter.closed.append(self.entry.id)


def entry(model_id: str, adapter: str = "scripted") -> dict[str, Any]:
    return {"id": model_id, "adapter": adapter, "base_url": "ws://127.0.0.1:1", "api_key": "k"}


def model_entry(model_id: str = "m") -> ModelEntry:
    from asgi_spark.secrets import Secret

    return ModelEntry(
        id=model_id, adapter="scripted", base_url="ws://127.0.0.1:1", api_key=Secret("k")
    )


@dataclass
class Response:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    first_body: asyncio.Event = field(default_factory=asyncio.Event)
    complete: bool = False

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return json.loads(self.body)


async def request(
    app: Any,
    method: str,
    path: str,
    body: Any = None,
    *,
    response: Response | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Response:
    """Call the ASGI app once, as a server would; the client never disconnects early."""
    response = response or Response()
    payload = json.dumps(body).encode() if body is not None else b""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *(headers or [])],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }
    sent = False
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": payload, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            response.status = message["status"]
            response.headers = list(message.get("headers", []))
            response.started.set()
        elif message["type"] == "http.response.body":
            response.chunks.append(message.get("body", b""))
            response.first_body.set()
            if not message.get("more_body", False):
                response.complete = True

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    return response


def chat(model: str, *, stream: bool = False) -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
