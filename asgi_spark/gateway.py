"""The ASGI application: OpenAI endpoints in front of the configured models.

``create_app(config)`` returns a :class:`Gateway`, an ASGI app that works standalone (it runs
its own lifespan) and mounted under a prefix in a Starlette or FastAPI app (Starlette does not
run a mounted app's lifespan, so the runtime starts on first use; the parent closes it with
``async with gateway.lifespan():`` or ``await gateway.aclose()``).

The gateway is a small state machine: IDLE (no runtime yet) → RUNNING → CLOSED.  Everything it
runs on is one :class:`~asgi_spark.runtime.Runtime`, swapped atomically by :meth:`Gateway.reload`.
After :meth:`Gateway.aclose` every request gets a 503 OpenAI error; nothing restarts silently.

Every route is an :class:`~asgi_spark.endpoint.Endpoint`: the runtime, CORS, the client key
and the method are checked there (:mod:`.endpoint`, :mod:`.cors`, :mod:`.access`) before a
handler here runs.  The chat endpoint reads as: read and decode the body
(:mod:`.request_body`) → admit and route the model → call its composed policies → a writer
answers (:mod:`.respond`), and the :class:`~asgi_spark.outcome.Outcome` goes to the access
log and the observers (:mod:`.observe`).  The Responses API and legacy Completions
(:mod:`.endpoints`) are translation layers over the same path.  Without a configuration the
runtime is the demo's (:mod:`.demo`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from enum import Enum
from functools import partial

from starlette.routing import Route, Router
from starlette.types import Receive, Scope, Send

from . import access
from .adapters.base import Adapter
from .config import ConfigError, ConfigSource, GatewayConfig, build_adapters, load_config
from .config.drain import DrainSettings
from .demo import CONFIG_ENV, DEMO_MODEL, demo_config, demo_runtime
from .drain import Drain
from .drain_signals import SignalDrain
from .endpoint import Endpoint, Handler, Incoming, no_such_route, not_found
from .endpoints.common import until_disconnect
from .endpoints.completions import CompletionsEndpoint
from .endpoints.responses import ResponsesEndpoint
from .errors import GatewayClosedError, GatewayError
from .observe import AccessLog, Observer, message_texts, notify
from .openai_types import Model, ModelList, encoder
from .outcome import Outcome
from .pipeline import Call, RequestContext
from .readiness import NotReady, readiness, shown
from .request_body import MAX_BODY_BYTES, decode_chat_request, read_body, require_json
from .request_id import client_request_id
from .respond import JSONWriter, SSEWriter, WriterState, send_json
from .runtime import Hold, Runtime, RuntimeFactory, build_runtime

logger = logging.getLogger("asgi_spark")

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
        self._drain = Drain()
        #: SIGTERM/SIGINT drain the gateway when uvicorn runs it (:mod:`.drain_signals`).
        self.signals = SignalDrain(self)
        #: One line per request (the configuration's ``access_log`` block says how).
        self.access_log = AccessLog()
        #: Called with the :class:`~asgi_spark.outcome.Outcome` of every chat request, after
        #: the access log (metrics are one: :mod:`asgi_spark.metrics`).
        self.observers: list[Observer] = []
        #: The Responses API, with its store of responses (kept across reloads).
        self.responses = ResponsesEndpoint(self._report)
        completions = CompletionsEndpoint(self._report)
        self._router = Router(
            routes=[
                Route("/v1/chat/completions", self._route("POST", self._chat, timed=True)),
                Route("/v1/responses", self._route("POST", self.responses.create, timed=True)),
                Route("/v1/responses/{response_id}", self._route("GET", self.responses.retrieve)),
                Route("/v1/completions", self._route("POST", completions.create, timed=True)),
                Route("/v1/models", self._route("GET", self._models)),
                Route("/v1/models/{model_id:path}", self._route("GET", self._model)),
                Route("/v1/{path:path}", self._route(None, self._no_route)),  # a key first
                Route("/healthz", self._probe(self._health)),
                Route("/readyz", self._probe(self._ready)),
            ],
            default=not_found,
        )

    def _route(
        self, method: str | None, handler: Handler, *, keyed: bool = True, timed: bool = False
    ) -> Endpoint:
        return Endpoint(method, handler, self._use, keyed=keyed, timed=timed)

    def _probe(self, handler: Handler) -> Endpoint:
        """A probe answers while the gateway drains (other routes refuse new requests)."""
        return Endpoint("GET", handler, partial(self._use, probe=True), keyed=False)

    # --------------------------------------------------------------------------- runtime

    def _factory(self) -> RuntimeFactory:
        outer = (self._drain.policy,)
        if self.demo:
            return partial(demo_runtime, outer)
        if self._prepared is None:
            assert self._source is not None
            self._prepared = _prepare(self._source)
        config, adapters = self._prepared
        self._prepared = None  # the adapters belong to the runtime from now on
        return partial(build_runtime, config, adapters=adapters, outer=outer)

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
        runtime = await build_runtime(loaded, adapters=adapters, outer=(self._drain.policy,))
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

    async def drain(
        self,
        delay: float | None = None,
        timeout: float | None = None,
        *,
        reason: str = "drain() was called",
        stop_listening: Callable[[float], object] | None = None,
    ) -> None:
        """Stop taking traffic, cutting no answer short that ends within ``timeout``
        (:mod:`.drain`): ``/readyz`` 503 at once; new requests served for ``delay`` s, then
        refused (and ``stop_listening(timeout)`` called); those in flight ended after
        ``timeout`` s.  ``None``: the config's ``drain`` block.  Returns when none is left;
        :meth:`aclose` (or leaving :meth:`lifespan`) closes the gateway afterwards."""
        settings = self.config.drain if self.config is not None else DrainSettings()
        await self._drain.run(
            delay=settings.delay if delay is None else delay,
            timeout=settings.timeout if timeout is None else timeout,
            reason=reason,
            stop_listening=stop_listening,
        )

    def hurry(self) -> None:
        """Cut a drain short: end the requests in flight now."""
        self._drain.hurry()

    async def not_ready(self) -> list[NotReady]:
        """Why ``/readyz`` says 503 now (empty: ready): the gateway's reasons (draining), then
        its runtime's (:meth:`~asgi_spark.runtime.Runtime.not_ready`)."""
        runtime = self._runtime
        return [*self._drain.not_ready(), *(await runtime.not_ready() if runtime else ())]

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

    def _use(self, probe: bool = False) -> contextlib.AbstractAsyncContextManager[Runtime]:
        """The current runtime, held for one request; refused while draining (not probes)."""
        return Hold(partial(self._current, probe))

    async def _current(self, probe: bool) -> Runtime:
        if self._runtime is None:
            await self.startup()
        runtime = self._runtime
        if runtime is None or self.state is GatewayState.CLOSED:
            raise GatewayClosedError("the gateway is closed")
        if self._drain.refusing and not probe:
            raise self._drain.refusal()
        return runtime

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
                self.signals.install()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -------------------------------------------------------------------------- endpoints

    # Each handler runs once its Endpoint has taken the runtime and admitted the client.

    async def _health(self, incoming: Incoming) -> None:
        body = encoder.encode({"status": "ok", "models": len(incoming.runtime.adapters)})
        await send_json(incoming.send, 200, body)

    async def _ready(self, incoming: Incoming) -> None:
        """200 when :meth:`not_ready` gives no reason, else 503 with the reasons; both say
        where the limits are kept.  The Endpoint answers 503 when the gateway is closed or cannot
        start."""
        runtime = incoming.runtime
        limits = await runtime.limit_status()
        reasons = [*self._drain.not_ready(), *await runtime.not_ready(limits)]
        status, body = readiness(len(runtime.adapters), reasons, limits=shown(limits))
        await send_json(incoming.send, status, encoder.encode(body))

    async def _models(self, incoming: Incoming) -> None:
        runtime = incoming.runtime
        shown = access.visible(incoming.client, runtime.adapters)
        listing = ModelList(data=[_model_object(runtime, model_id) for model_id in shown])
        await send_json(incoming.send, 200, encoder.encode(listing))

    async def _model(self, incoming: Incoming) -> None:
        model_id = incoming.scope["path_params"]["model_id"]
        runtime = incoming.runtime
        access.admit(incoming.client, model_id, runtime.adapters, hide=True)
        runtime.route(model_id)
        await send_json(incoming.send, 200, encoder.encode(_model_object(runtime, model_id)))

    async def _no_route(self, incoming: Incoming) -> None:
        raise no_such_route(incoming.scope)

    async def _chat(self, incoming: Incoming) -> None:
        runtime, send, receive = incoming.runtime, incoming.send, incoming.receive
        context = RequestContext(
            endpoint="chat.completions",
            requested_model="",
            client_key=incoming.client.name if incoming.client is not None else None,
        )
        writer: SSEWriter | JSONWriter = JSONWriter(send, context)
        try:  # every chat request, refused ones included, ends in one Outcome
            context.request_id = client_request_id(incoming.scope) or context.request_id
            require_json(incoming.headers)
            timeout = runtime.config.body_timeout
            request = decode_chat_request(
                await read_body(receive, limit=MAX_BODY_BYTES, timeout=timeout)
            )
            context.requested_model = request.model
            access.admit(incoming.client, request.model, runtime.adapters, hide=False)
            call_model = runtime.route(request.model)
            if runtime.config.access_log.include_content:
                context.messages = message_texts(request)
            if request.stream:
                options = request.stream_options
                include_usage = bool(options and options.include_usage)
                writer = SSEWriter(send, context, include_usage=include_usage)
            else:
                writer = JSONWriter(send, context)  # now that it knows whether to keep content
            source = call_model(Call(request, request.model, context))
            with runtime.streaming() if request.stream else contextlib.nullcontext():
                try:
                    await until_disconnect(receive, writer.write(source))
                finally:
                    await source.aclose()
        except GatewayError as exc:
            if writer.state is not WriterState.PENDING:
                raise
            await writer.fail(exc)
        finally:
            self._report(writer.outcome(), runtime)

    def _report(self, outcome: Outcome, runtime: Runtime) -> None:
        """The access log and the observers get every model request's outcome."""
        settings = runtime.config.access_log
        notify(outcome, [partial(self.access_log, settings=settings), *self.observers])


def _model_object(runtime: Runtime, model_id: str) -> Model:
    return Model(id=model_id, created=runtime.created, owned_by=runtime.adapters[model_id].owned_by)


_Prepared = tuple[GatewayConfig, dict[str, Adapter]]


def _prepare(config: AppConfig) -> _Prepared:
    """Load ``config`` and build its adapters, which validates it: :class:`ConfigError`."""
    loaded = config if isinstance(config, GatewayConfig) else load_config(config)
    return loaded, build_adapters(loaded)


# ------------------------------------------------------------------------------- helpers


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
