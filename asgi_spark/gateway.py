"""The ASGI application: OpenAI endpoints in front of the configured models.

``create_app(config)`` returns a :class:`Gateway`, an ASGI app that works standalone (it runs
its own lifespan) and mounted under a prefix in a Starlette or FastAPI app (Starlette does not
run a mounted app's lifespan, so the runtime starts on first use; the parent closes it with
``async with gateway.lifespan():`` or ``await gateway.aclose()``).

The gateway is a small state machine: IDLE (no runtime yet) → RUNNING → CLOSED.  Everything it
runs on is one :class:`~asgi_spark.runtime.Runtime`, swapped atomically by :meth:`Gateway.reload`.
After :meth:`Gateway.aclose` every request gets a 503 OpenAI error; nothing restarts silently.

The chat endpoint reads as: decode the body → route the model → call its composed policies →
a writer answers (:mod:`.respond`), and the :class:`~asgi_spark.outcome.Outcome` goes to the
access log and the observers (:mod:`.observe`).
Without a configuration the runtime is the demo's (:mod:`.demo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from enum import Enum
from functools import partial
from typing import Any, Final

from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from .adapters.base import Adapter
from .config import ConfigError, ConfigSource, GatewayConfig, build_adapters, load_config
from .decoding import JsonDecodeFailure, decode
from .demo import CONFIG_ENV, DEMO_MODEL, demo_config, demo_runtime
from .errors import (
    GatewayClosedError,
    GatewayError,
    InternalError,
    InvalidRequestError,
    NotFoundError,
)
from .observe import AccessLog, Observer, message_texts, notify
from .openai_types import ChatCompletionRequest, Model, ModelList, encoder, request_decoder
from .pipeline import Call, RequestContext
from .request_id import client_request_id
from .respond import JSONWriter, SSEWriter, WriterState, send_error, send_json
from .runtime import Runtime, RuntimeFactory, build_runtime
from .timing import gateway_only, timed_send

logger = logging.getLogger("asgi_spark")

#: Largest accepted request body.  Spark's largest context (128K tokens) fits easily.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

#: What :func:`create_app` accepts: a loaded configuration or anything :func:`load_config` reads.
AppConfig = GatewayConfig | ConfigSource


class GatewayState(Enum):
    IDLE = "idle"  # no runtime yet (built on start-up or first use)
    RUNNING = "running"
    CLOSED = "closed"  # aclose() was called: every request is a 503


class Gateway:
    """The gateway as an ASGI app.  Build it with :func:`create_app`."""

    def __init__(self, config: AppConfig | None, *, defer: bool = False) -> None:
        self.demo = config is None
        self._source = config
        self._prepared: _Prepared | None = None
        if not defer and config is not None:
            self._prepared = _prepare(config)  # a bad configuration raises here
        self.state = GatewayState.IDLE
        self._runtime: Runtime | None = None
        self._lock = asyncio.Lock()
        #: One line per request (the configuration's ``access_log`` block says how).
        self.access_log = AccessLog()
        #: Called with the :class:`~asgi_spark.outcome.Outcome` of every chat request, after
        #: the access log (metrics are one: :mod:`asgi_spark.metrics`).
        self.observers: list[Observer] = []
        self._router = Router(
            routes=[
                Route("/v1/chat/completions", _Endpoint("POST", self._chat, timed=True)),
                Route("/v1/models", _Endpoint("GET", self._models)),
                Route("/v1/models/{model_id:path}", _Endpoint("GET", self._model)),
                Route("/healthz", _Endpoint("GET", self._health)),
            ],
            default=_not_found,
        )

    # --------------------------------------------------------------------------- runtime

    def _factory(self) -> RuntimeFactory:
        if self.demo:
            return demo_runtime
        if self._prepared is None:
            assert self._source is not None
            self._prepared = _prepare(self._source)
        config, adapters = self._prepared
        self._prepared = None  # the adapters belong to the runtime from now on
        return lambda: build_runtime(config, adapters=adapters)

    async def startup(self) -> None:
        """Build the runtime if not done yet.  A closed gateway stays closed."""
        if self._runtime is not None:
            return
        async with self._lock:
            if self.state is GatewayState.CLOSED:
                raise GatewayClosedError("the gateway is closed")
            if self._runtime is None:
                self._runtime = await self._factory()()
                self.state = GatewayState.RUNNING

    async def reload(self, config: AppConfig) -> None:
        """Serve ``config`` from now on: a new runtime is built and swapped in atomically;
        requests in flight finish on the old one, which closes after the last of them.

        An invalid configuration raises :class:`~asgi_spark.config.ConfigError` and the
        running one stays.
        """
        loaded, adapters = _prepare(config)
        runtime = await build_runtime(loaded, adapters=adapters)
        async with self._lock:
            if self.state is GatewayState.CLOSED:
                await runtime.aclose()
                raise GatewayClosedError("the gateway is closed")
            old, self._runtime = self._runtime, runtime
            self.demo, self.state = False, GatewayState.RUNNING
        if old is not None:
            await old.retire()
        logger.info("configuration reloaded: %d model(s)", len(runtime.adapters))

    async def aclose(self) -> None:
        """Close the runtime (and, in demo mode, the simulator); later requests get a 503.
        Idempotent."""
        async with self._lock:
            self.state = GatewayState.CLOSED
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            await runtime.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[Gateway]:
        """For a parent app's lifespan: start now, close on exit."""
        await self.startup()
        try:
            yield self
        finally:
            await self.aclose()

    @property
    def runtime(self) -> Runtime | None:
        """The runtime serving requests now (``None`` before start-up and after close)."""
        return self._runtime

    @property
    def models(self) -> Mapping[str, Adapter]:
        """The served models by id (empty until started)."""
        return self._runtime.adapters if self._runtime is not None else {}

    @property
    def config(self) -> GatewayConfig | None:
        """The loaded configuration (``None`` until loaded; in demo mode until started)."""
        if self._runtime is not None:
            return self._runtime.config
        return self._prepared[0] if self._prepared is not None else None

    @contextlib.asynccontextmanager
    async def _use(self, *, stream: bool = False) -> AsyncIterator[Runtime]:
        if self._runtime is None:
            await self.startup()
        runtime = self._runtime
        if runtime is None or self.state is GatewayState.CLOSED:
            raise GatewayClosedError("the gateway is closed")
        async with runtime.use(stream=stream):
            yield runtime

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

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self._use() as runtime:
            body = encoder.encode({"status": "ok", "models": len(runtime.adapters)})
        await send_json(send, 200, body)

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with self._use() as runtime:
            listing = ModelList(data=[_model_object(runtime, k) for k in runtime.adapters])
        await send_json(send, 200, encoder.encode(listing))

    async def _model(self, scope: Scope, receive: Receive, send: Send) -> None:
        model_id = scope["path_params"]["model_id"]
        async with self._use() as runtime:
            runtime.route(model_id)
            body = encoder.encode(_model_object(runtime, model_id))
        await send_json(send, 200, body)

    async def _chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        context = RequestContext(endpoint="chat.completions", requested_model="")
        writer: SSEWriter | JSONWriter = JSONWriter(send, context)
        runtime: Runtime | None = None
        try:
            context.request_id = client_request_id(scope) or context.request_id
            request = _decode_request(await _read_body(receive))
            context.requested_model = request.model
            async with self._use(stream=bool(request.stream)) as runtime:
                call_model = runtime.route(request.model)
                if runtime.config.access_log.include_content:
                    context.messages = message_texts(request)
                options = request.stream_options
                writer = (
                    SSEWriter(send, context, include_usage=bool(options and options.include_usage))
                    if request.stream
                    else JSONWriter(send, context)
                )
                source = call_model(Call(request, request.model, context))
                try:
                    await _until_disconnect(receive, writer.write(source))
                finally:
                    await source.aclose()
        except GatewayError as exc:
            if writer.state is not WriterState.PENDING:
                raise
            await writer.fail(exc)
        finally:
            settings = runtime.config.access_log if runtime is not None else None
            notify(writer.outcome(), [partial(self.access_log, settings=settings), *self.observers])


def _model_object(runtime: Runtime, model_id: str) -> Model:
    return Model(id=model_id, created=runtime.created, owned_by=runtime.adapters[model_id].owned_by)


_Prepared = tuple[GatewayConfig, dict[str, Adapter]]


def _prepare(config: AppConfig) -> _Prepared:
    """Load ``config`` and build its adapters, which validates it: :class:`ConfigError`."""
    loaded = config if isinstance(config, GatewayConfig) else load_config(config)
    return loaded, build_adapters(loaded)


class _ClientGone(Exception):
    """The client disconnected before the request was read."""


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Endpoint:
    """One method's raw ASGI endpoint: errors are OpenAI errors; Server-Timing on each."""

    def __init__(self, method: str, handler: Handler, *, timed: bool = False) -> None:
        self._method = method
        self._handler = handler
        self._timed = timed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.monotonic()
        try:
            if scope["method"] != self._method:
                raise InvalidRequestError(
                    f"method {scope['method']} is not allowed here; use {self._method}",
                    code="method_not_allowed",
                    status=405,
                )
            await self._handler(scope, receive, send if self._timed else timed_send(send, began))
        except _ClientGone:
            return
        except GatewayError as exc:
            await send_error(send, exc, [gateway_only(began, time.monotonic())])
        except ConfigError as exc:
            logger.error("configuration error: %s", exc)
            error = InternalError(f"the gateway is misconfigured: {exc}")
            await send_error(send, error, [gateway_only(began, time.monotonic())])


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        send = timed_send(send, time.monotonic())
        error = NotFoundError(
            f"{scope['method']} {scope['path']} is not an endpoint of this gateway"
        )
        await send_error(send, error)


async def _until_disconnect(receive: Receive, work: Awaitable[Any]) -> None:
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


__all__ = [
    "CONFIG_ENV",
    "DEMO_MODEL",
    "Gateway",
    "GatewayClosedError",
    "GatewayState",
    "app_from_environment",
    "create_app",
    "demo_config",
]
