"""The extension path documented in the README: a second WebSocket adapter, registered by name,
served by the gateway against a toy WebSocket server of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
from websockets.asyncio.server import ServerConnection, serve

from asgi_spark import Exchange, WebSocketAdapter, create_app, register_adapter
from asgi_spark.config import ConfigError
from asgi_spark.errors import UpstreamError
from asgi_spark.events import ContentDelta, Event, Failed, Finish, Started, Usage
from asgi_spark.openai_types import ChatCompletionRequest
from asgi_spark.registry import unregister_adapter
from tests.openapi import validate

from .server import ServedGateway


@dataclass
class ToyState:
    done: bool = False
    started: bool = False
    words: list[str] = field(default_factory=list)


class ToyAdapter(WebSocketAdapter[ToyState]):
    """Speaks the toy protocol: send {"prompt"}, receive {"word"}... then {"done", "tokens"}."""

    name = "toy_ws"
    owned_by = "toy"

    def __init__(self, entry: Any) -> None:
        super().__init__(entry)
        if "greeting" not in entry.config:
            raise ConfigError(f"model {entry.id!r}, field 'config.greeting': required")
        self.greeting = entry.config["greeting"]

    def build_url(self) -> str:
        return self.entry.base_url + "/toy"

    def convert_request(self, request: ChatCompletionRequest) -> Exchange[ToyState]:
        prompt = request.messages[-1].content
        return Exchange(
            frames=[json.dumps({"prompt": prompt, "greeting": self.greeting})], state=ToyState()
        )

    def parse_frame(self, data: str | bytes, state: ToyState) -> list[Event]:
        frame = json.loads(data)
        events: list[Event] = []
        if not state.started:
            state.started = True
            events.append(Started("toy-1"))
        if frame.get("word") == "crash ":
            raise RuntimeError("a bug in a third-party adapter")
        if "word" in frame:
            events.append(ContentDelta(frame["word"]))
        elif "error" in frame:
            state.done = True
            events.append(Failed(UpstreamError(f"toy upstream said: {frame['error']}")))
        elif frame.get("done"):
            state.done = True
            n = frame["tokens"]
            events += [Finish("stop"), Usage(n, n, 2 * n)]
        return events

    def is_complete(self, state: ToyState) -> bool:
        return state.done


async def toy_handler(ws: ServerConnection) -> None:
    request = json.loads(await ws.recv())
    if request["prompt"] == "fail":
        await ws.send(json.dumps({"error": "no"}))
        return
    words = [request["greeting"], *request["prompt"].split()]
    for word in words:
        await ws.send(json.dumps({"word": word + " "}))
    await ws.send(json.dumps({"done": True, "tokens": len(words)}))


@pytest.fixture(scope="module")
def toy() -> Iterator[ServedGateway]:
    register_adapter("toy_ws", ToyAdapter)
    toy_url: list[str] = []

    def make_app(simulator_url: str) -> Any:
        return create_app(
            [
                {
                    "id": "toy",
                    "adapter": "toy_ws",
                    "base_url": toy_url[0],
                    "api_key": "none",
                    "config": {"greeting": "hello"},
                }
            ]
        )

    class WithToy(ServedGateway):
        """The toy server lives in the gateway's own loop, started before the app is built."""

        async def _main(self) -> None:
            async with serve(toy_handler, "127.0.0.1", 0) as server:
                port = server.sockets[0].getsockname()[1]
                toy_url.append(f"ws://127.0.0.1:{port}")
                await super()._main()

    served = WithToy(make_app).start()
    yield served
    served.stop()
    unregister_adapter("toy_ws")


def test_registered_adapter_serves_openai(toy: ServedGateway) -> None:
    with openai.OpenAI(base_url=toy.base_url + "/v1", api_key="x", max_retries=0) as client:
        completion = client.chat.completions.create(
            model="toy", messages=[{"role": "user", "content": "one two"}]
        )
        validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
        assert completion.choices[0].message.content == "hello one two "
        assert completion.usage is not None and completion.usage.total_tokens == 6
        chunks = list(
            client.chat.completions.create(
                model="toy", messages=[{"role": "user", "content": "one two"}], stream=True
            )
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hello one two "
        assert chunks[-1].choices[0].finish_reason == "stop"
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(
                model="toy", messages=[{"role": "user", "content": "fail"}]
            )
        assert "toy upstream said: no" in info.value.message
        assert [m.owned_by for m in client.models.list()] == ["toy"]


def test_adapter_config_errors_surface_at_create_app() -> None:
    register_adapter("toy_ws", ToyAdapter)
    try:
        with pytest.raises(ConfigError, match=r"config\.greeting"):
            create_app(
                [
                    {
                        "id": "toy",
                        "adapter": "toy_ws",
                        "base_url": "ws://127.0.0.1:1",
                        "api_key": "none",
                    }
                ]
            )
    finally:
        unregister_adapter("toy_ws")


def test_unregistered_adapter_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="toy_missing"):
        create_app(
            [
                {
                    "id": "x",
                    "adapter": "toy_missing",
                    "base_url": "ws://127.0.0.1:1",
                    "api_key": "none",
                }
            ]
        )


def test_a_crashing_adapter_is_a_clean_500_or_error_event(toy: ServedGateway) -> None:
    crash = [{"role": "user", "content": "one crash two"}]
    with openai.OpenAI(base_url=toy.base_url + "/v1", api_key="x", max_retries=0) as client:
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="toy", messages=crash)
        assert info.value.status_code == 500
        assert "internal error" in info.value.message
        assert "third-party" not in info.value.message  # details stay in the log
        received: list[Any] = []
        with pytest.raises(openai.APIError, match="internal error"):
            for chunk in client.chat.completions.create(model="toy", messages=crash, stream=True):
                received.append(chunk)
        assert "".join(c.choices[0].delta.content or "" for c in received) == "hello one "
