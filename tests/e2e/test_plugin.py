"""A pip-installed adapter plug-in (entry point ``asgi_spark.adapters``) served from a config
file, end to end: uvicorn, the gateway built from the file, a toy upstream, the openai SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest
from websockets.asyncio.server import ServerConnection, serve

from asgi_spark import create_app
from tests.openapi import validate
from tests.plugins import install_plugin

from .server import ServedGateway

TOKEN = "echo-token-e2e-0005"


async def echo_upstream(ws: ServerConnection) -> None:
    request = msgspec.json.decode(await ws.recv())
    if request["token"] != TOKEN:
        await ws.close(1008, "bad token")
        return
    await ws.send(json.dumps({"echo": request["text"]}))


def test_a_pip_installed_plugin_is_served_from_a_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_plugin(tmp_path, monkeypatch)
    monkeypatch.setenv("ECHO_TOKEN", TOKEN)
    config_path = tmp_path / "models.json"

    def make_app(_simulator_url: str) -> Any:
        return create_app(config_path)

    class WithEcho(ServedGateway):
        async def _main(self) -> None:
            async with serve(echo_upstream, "127.0.0.1", 0) as upstream:
                port = upstream.sockets[0].getsockname()[1]
                entry = {
                    "id": "echo",
                    "adapter": "echo_ws",
                    "base_url": f"ws://127.0.0.1:{port}",
                    "api_key": "none",
                    "config": {"token": "ENV:ECHO_TOKEN", "prefix": "echo: "},
                }
                config_path.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
                await super()._main()

    served = WithEcho(make_app).start()
    try:
        with openai.OpenAI(base_url=served.base_url + "/v1", api_key="x", max_retries=0) as client:
            completion = client.chat.completions.create(
                model="echo", messages=[{"role": "user", "content": "hello plug-in"}]
            )
            validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
            assert completion.choices[0].message.content == "echo: hello plug-in"
            assert [m.owned_by for m in client.models.list()] == ["echo-plugin"]
    finally:
        served.stop()
