"""The ASGI application: OpenAI Chat Completions in front of the configured adapters.

``create_app(config)`` returns a :class:`Gateway`, an ASGI app that works standalone (it runs
its own lifespan) and mounted under a prefix in a Starlette or FastAPI app (Starlette does not
run a mounted app's lifespan, so resources start lazily on first use; the parent closes them
with ``async with gateway.lifespan():`` or ``await gateway.aclose()``).

With no configuration the gateway runs in demo mode: it starts the built-in Spark simulator
on a free loopback port inside the process and serves one model, ``spark-demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from typing import Any, Final

from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from . import sse
from .adapters.base import Adapter
from .completion import Aggregator, StreamEncoder, encode_completion
from .config import ConfigError, ConfigSource, GatewayConfig, build_adapters, load_config
from .decoding import JsonDecodeFailure, decode
from .errors import (
    GatewayError,
    InternalError,
    InvalidRequestError,
    ModelNotFoundError,
    NotFoundError,
    error_body,
)
from .events import Event, Failed, Finish, Started
from .openai_types import ChatCompletionRequest, Model, ModelList, encoder, request_decoder

logger = logging.getLogger("asgi_spark")

#: Largest accepted request body.  Spark's largest context (128K tokens) fits easily.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
DEMO_MODEL: Final = "spark-demo"
CONFIG_ENV: Final = "ASGI_SPARK_CONFIG"
_JSON: Final = (b"content-type", b"application/json")

#: What :func:`create_app` accepts: a loaded configuration or anything :func:`load_config` reads.
AppConfig = GatewayConfig | ConfigSource


class Gateway:
    """The gateway as an ASGI app.  Build it with :func:`create_app`."""

    def __init__(self, config: AppConfig | None, *, defer: bool = False) -> None:
        self._source = config
        self._config: GatewayConfig | None = None
        self._adapters: dict[str, Adapter] | None = None
        self._simulator: Any = None  # asgi_spark.simulator.SparkSimulator in demo mode
        self._lock = asyncio.Lock()
        self._created = int(time.time())
        self.demo = config is None
        if not defer and not self.demo:
            self._load()
        self._router = Router(
            routes=[
                Route("/v1/chat/completions", _Endpoint("POST", self._chat)),
                Route("/v1/models", _Endpoint("GET", self._models)),
                Route("/v1/models/{model_id:path}", _Endpoint("GET", self._model)),
                Route("/healthz", _Endpoint("GET", self._health)),
            ],
            default=_not_found,
        )

    # -------------------------------------------------------------------------- resources

    def _load(self) -> None:
        assert self._source is not None
        config = (
            self._source if isinstance(self._source, GatewayConfig) else load_config(self._source)
        )
        adapters = build_adapters(config)
        self._config, self._adapters = config, adapters

    async def startup(self) -> None:
        """Load the configuration (or start the demo simulator) if not done yet."""
        if self._adapters is not None:
            return
        async with self._lock:
            if self._adapters is not None:
                return
            if self.demo:
                await self._start_demo()
            else:
                self._load()

    async def _start_demo(self) -> None:
        from .simulator import SparkSimulator

        simulator = SparkSimulator(
            app_id="demo-app",
            api_key="demo-key",
            api_secret="demo-secret",
            host="127.0.0.1",
            port=0,
        )
        await simulator.start()
        try:
            self._source = demo_config(simulator.url)
            self._load()
        except BaseException:
            await simulator.stop()
            raise
        self._simulator = simulator
        logger.warning(
            "asgi_spark demo mode: no configuration given, serving model %r from the built-in "
            "Spark simulator at %s (no credentials needed; set %s or pass --config for real "
            "Spark)",
            DEMO_MODEL,
            simulator.url,
            CONFIG_ENV,
        )

    async def aclose(self) -> None:
        """Release everything: adapters and, in demo mode, the simulator.  Idempotent."""
        async with self._lock:
            adapters, self._adapters = self._adapters, None
            for adapter in (adapters or {}).values():
                await adapter.aclose()
            simulator, self._simulator = self._simulator, None
            if simulator is not None:
                await simulator.stop()
                self._source = None

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Gateway]:
        """For a parent app's lifespan: start now, close on exit."""
        await self.startup()
        try:
            yield self
        finally:
            await self.aclose()

    @property
    def models(self) -> Mapping[str, Adapter]:
        """The served models by id (empty until started)."""
        return self._adapters or {}

    @property
    def config(self) -> GatewayConfig | None:
        """The loaded configuration (``None`` until loaded; in demo mode until started)."""
        return self._config

    # ------------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        await self._router(scope, receive, send)

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except (ConfigError, OSError) as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -------------------------------------------------------------------------- endpoints

    async def _ready(self) -> Mapping[str, Adapter]:
        if self._adapters is None:
            await self.startup()
        return self.models

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        models = await self._ready()
        await _send_json(send, 200, encoder.encode({"status": "ok", "models": len(models)}))

    def _model_object(self, model_id: str, adapter: Adapter) -> Model:
        return Model(id=model_id, created=self._created, owned_by=adapter.owned_by)

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        models = await self._ready()
        listing = ModelList(data=[self._model_object(k, a) for k, a in models.items()])
        await _send_json(send, 200, encoder.encode(listing))

    async def _model(self, scope: Scope, receive: Receive, send: Send) -> None:
        models = await self._ready()
        model_id = scope["path_params"]["model_id"]
        adapter = models.get(model_id)
        if adapter is None:
            raise _model_not_found(model_id, models)
        await _send_json(send, 200, encoder.encode(self._model_object(model_id, adapter)))

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        request = _decode_request(body)
        models = await self._ready()
        adapter = models.get(request.model)
        if adapter is None:
            raise _model_not_found(request.model, models)
        exchange = _Exchange(request, adapter, send)
        await _until_disconnect(receive, exchange.run())
        logger.info(
            "chat model=%s stream=%s outcome=%s id=%s %.1fms",
            request.model,
            bool(request.stream),
            exchange.outcome,
            exchange.response_id,
            (time.monotonic() - exchange.started) * 1000,
        )


class _Exchange:
    """One chat request: pulls event batches from the adapter and sends the response."""

    def __init__(self, request: ChatCompletionRequest, adapter: Adapter, send: Send) -> None:
        self.request = request
        self.adapter = adapter
        self.send = send
        self.started = time.monotonic()
        self.created = int(time.time())
        self.outcome = "cancelled"
        self.response_id = ""

    async def run(self) -> None:
        events = self.adapter.stream(self.request)
        try:
            if self.request.stream:
                await self._stream(events)
            else:
                await self._complete(events)
        finally:
            await events.aclose()

    async def _complete(self, events: AsyncGenerator[list[Event], None]) -> None:
        aggregator = Aggregator(self.request.model, self.created)
        try:
            async for batch in events:
                aggregator.feed(batch)
                if _terminal(batch):
                    break
            completion = aggregator.result()
        except Exception as exc:
            error = _as_gateway_error(exc)
            self.outcome = f"error {error.status} {error.code}"
            await _send_error(self.send, error)
            return
        self.response_id = completion.id
        self.outcome = f"finish {completion.choices[0].finish_reason}"
        await _send_json(self.send, 200, encode_completion(completion))

    async def _stream(self, events: AsyncGenerator[list[Event], None]) -> None:
        options = self.request.stream_options
        encoder = StreamEncoder(
            self.request.model,
            self.created,
            include_usage=bool(options and options.include_usage),
        )
        send = self.send
        headers_sent = False
        finished = False
        try:
            async for batch in events:
                if not headers_sent:
                    failure = _failure(batch)
                    if failure is not None and not any(isinstance(e, Started) for e in batch):
                        raise failure
                    if not batch:
                        continue
                    await send(
                        {"type": "http.response.start", "status": 200, "headers": list(sse.HEADERS)}
                    )
                    headers_sent = True
                data = encoder.encode(batch)
                self.response_id = encoder.id
                if data:
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                if _terminal(batch):
                    finished = _failure(batch) is None
                    self.outcome = "finish" if finished else "error after start"
                    break
            else:
                raise InternalError("the upstream adapter ended without a final answer")
        except Exception as exc:
            error = _as_gateway_error(exc)
            self.outcome = f"error {error.status} {error.code}"
            if not headers_sent:
                await _send_error(send, error)
                return
            await send(
                {"type": "http.response.body", "body": encoder.error(error), "more_body": True}
            )
        tail = encoder.done() if finished else b""
        await send({"type": "http.response.body", "body": tail, "more_body": False})


def _as_gateway_error(exc: Exception) -> GatewayError:
    """``exc`` itself if it is a GatewayError; otherwise a logged internal error."""
    if isinstance(exc, GatewayError):
        return exc
    logger.exception("internal error while answering a chat request")
    return InternalError("internal error in the gateway; the details are in its log")


def _terminal(batch: list[Event]) -> bool:
    return any(isinstance(e, (Finish, Failed)) for e in batch)


def _failure(batch: list[Event]) -> GatewayError | None:
    return next((e.error for e in batch if isinstance(e, Failed)), None)


class _ClientGone(Exception):
    """The client disconnected before the request was read."""


class _Endpoint:
    """A raw ASGI endpoint for one method whose GatewayErrors become OpenAI error responses."""

    def __init__(self, method: str, handler: Any) -> None:
        self._method = method
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if scope["method"] != self._method:
                raise InvalidRequestError(
                    f"method {scope['method']} is not allowed here; use {self._method}",
                    code="method_not_allowed",
                    status=405,
                )
            await self._handler(scope, receive, send)
        except _ClientGone:
            return
        except GatewayError as exc:
            await _send_error(send, exc)
        except ConfigError as exc:
            logger.error("configuration error: %s", exc)
            await _send_error(send, InternalError(f"the gateway is misconfigured: {exc}"))


# ------------------------------------------------------------------------------- helpers


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        error = NotFoundError(
            f"{scope['method']} {scope['path']} is not an endpoint of this gateway"
        )
        await _send_error(send, error)


async def _until_disconnect(receive: Receive, work: Awaitable[None]) -> None:
    """Run ``work`` until done or until the client disconnects, whichever comes first.

    A disconnect cancels ``work``, which closes the upstream connection it owns.
    """
    task = asyncio.ensure_future(work)

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (task, watcher):
            t.cancel()
        await asyncio.gather(task, watcher, return_exceptions=True)
    if task.done() and not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidRequestError(
                f"the request body is larger than {MAX_BODY_BYTES} bytes",
                code="request_too_large",
                status=413,
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _decode_request(body: bytes) -> ChatCompletionRequest:
    if not body.strip():
        raise InvalidRequestError("the request body is empty; send a JSON chat completion request")
    try:
        return decode(request_decoder, body)
    except JsonDecodeFailure as failure:
        if failure.kind != "schema":
            raise InvalidRequestError(failure.describe("the request body")) from None
        where = f" (at '{failure.path}')" if failure.path else ""
        raise InvalidRequestError(
            f"invalid request body: {failure.detail}{where}", param=failure.path
        ) from None


def _model_not_found(model_id: str, models: Mapping[str, Adapter]) -> ModelNotFoundError:
    available = ", ".join(sorted(models)) or "none"
    return ModelNotFoundError(
        f"The model '{model_id}' does not exist on this gateway (available: {available})",
        param="model",
    )


async def _send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, error: GatewayError) -> None:
    await _send_json(send, error.status, error_body(error))


def demo_config(simulator_url: str) -> dict[str, Any]:
    """The demo configuration: one Spark Max model served by the simulator at ``simulator_url``."""
    return {
        "models": [
            {
                "id": DEMO_MODEL,
                "adapter": "websocket",
                "request_format": "xunfei",
                "base_url": simulator_url,
                "api_key": "demo-key",
                "model": "Spark Max (simulated)",
                "config": {
                    "app_id": "demo-app",
                    "api_secret": "demo-secret",
                    "api_version": "v3.5",
                },
            }
        ]
    }


def create_app(config: AppConfig | None = None) -> Gateway:
    """Build the gateway.

    ``config`` is a path to a JSON file, the decoded JSON (a list of model entries or an object
    with ``models``), or a :class:`GatewayConfig`.  It is loaded and validated now, so a bad
    configuration raises :class:`~asgi_spark.config.ConfigError` here.  ``None`` means demo
    mode (the built-in simulator, started on first use).
    """
    return Gateway(config)


def app_from_environment() -> Gateway:
    """The standalone app: config from ``$ASGI_SPARK_CONFIG``, else demo mode.

    Loading is deferred to the lifespan startup so a bad configuration stops the server with a
    clear message instead of an import traceback.
    """
    path = os.environ.get(CONFIG_ENV) or None
    return Gateway(path, defer=True)


__all__ = ["DEMO_MODEL", "Gateway", "app_from_environment", "create_app"]
