"""The gateway mounted under a prefix in FastAPI and in Starlette, called through the prefix."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from asgi_spark import Gateway, create_app
from tests.openapi import validate

from .server import ServedGateway, spark_entry

gateways: list[Gateway] = []


def fastapi_app(simulator_url: str) -> Any:
    gateway = create_app([spark_entry("spark-max", simulator_url)])
    gateways.append(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with gateway.lifespan():
            yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    app.mount("/llm", gateway)
    return app


def starlette_app(simulator_url: str) -> Any:
    # No lifespan at all: the gateway starts lazily and the parent closes it on shutdown.
    gateway = create_app([spark_entry("spark-max", simulator_url)])
    gateways.append(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.aclose()

    return Starlette(routes=[Mount("/gw/spark", app=gateway)], lifespan=lifespan)


@pytest.fixture(scope="module", params=[("fastapi", "/llm"), ("starlette", "/gw/spark")])
def mounted(request: pytest.FixtureRequest) -> Iterator[tuple[ServedGateway, str]]:
    kind, prefix = request.param
    server = ServedGateway(fastapi_app if kind == "fastapi" else starlette_app).start()
    yield server, prefix
    server.stop()


def test_sdk_through_the_prefix(mounted: tuple[ServedGateway, str]) -> None:
    server, prefix = mounted
    with openai.OpenAI(
        base_url=server.base_url + prefix + "/v1", api_key="x", max_retries=0
    ) as client:
        completion = client.chat.completions.create(
            model="spark-max", messages=[{"role": "user", "content": "mounted?"}]
        )
        validate("CreateChatCompletionResponse", completion.model_dump(exclude_unset=True))
        chunks = list(
            client.chat.completions.create(
                model="spark-max", messages=[{"role": "user", "content": "mounted?"}], stream=True
            )
        )
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert [m.id for m in client.models.list()] == ["spark-max"]
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(
                model="nope", messages=[{"role": "user", "content": "x"}]
            )
    assert httpx.get(server.base_url + prefix + "/healthz").json()["status"] == "ok"


def test_parent_routes_still_work(mounted: tuple[ServedGateway, str]) -> None:
    server, prefix = mounted
    if prefix == "/llm":
        assert httpx.get(server.base_url + "/ping").json() == {"pong": "yes"}
    assert httpx.get(server.base_url + prefix + "/nope").status_code == 404
