"""One route of the gateway as a raw ASGI endpoint, and the checks every request goes through.

In order, for every request that reaches a route:

1. the runtime is taken for the length of the request (a closed gateway: 503
   ``gateway_closed``; one that cannot start: 503 ``gateway_not_ready``);
2. CORS, when configured (:mod:`.cors`): a preflight is answered here, without a key; other
   answers to an allowed origin get the CORS headers;
3. the client key, on ``/v1/...`` routes when ``api_keys`` is configured (:mod:`.access`):
   401 without a valid one;
4. the method: 405 for another;
5. the handler, given an :class:`Incoming` (the runtime, the client's key, the headers).

A :class:`~asgi_spark.errors.GatewayError` raised before the answer started becomes one OpenAI
error response and one log line (INFO for a 4xx, WARNING for a 5xx; never a traceback).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from . import access, cors
from .config import ClientKey, ConfigError
from .errors import (
    GatewayClosedError,
    GatewayError,
    GatewayNotReadyError,
    InvalidRequestError,
    NotFoundError,
)
from .request_body import ClientGone
from .respond import send_error
from .runtime import Runtime
from .timing import timed_send

logger = logging.getLogger("asgi_spark")


@dataclass(frozen=True, slots=True)
class Incoming:
    """One request as a handler sees it, once admitted."""

    scope: Scope
    receive: Receive
    send: Send
    headers: Headers
    runtime: Runtime
    #: The key the client presented (``None``: the gateway needs none, or an open route).
    client: ClientKey | None


Handler = Callable[[Incoming], Awaitable[None]]
UseRuntime = Callable[[], contextlib.AbstractAsyncContextManager[Runtime]]


class Endpoint:
    """A raw ASGI endpoint: the checks of the module docstring, then ``handler``.

    ``method`` ``None`` accepts any method; ``keyed`` routes need the client key."""

    def __init__(
        self,
        method: str | None,
        handler: Handler,
        use: UseRuntime,
        *,
        keyed: bool,
        timed: bool = False,
    ):
        self._method = method
        self._handler = handler
        self._use = use
        #: The handler adds Server-Timing itself (the chat writers); else this endpoint does.
        self._timed = timed
        self._keyed = keyed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every response carries Server-Timing: refusals here get the gateway's time.
        timed = timed_send(send, time.monotonic())
        await self._answer(scope, receive, send if self._timed else timed, timed)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, timed: Send) -> None:
        """``send`` goes to the handler; ``timed`` answers refusals."""
        using = self._use()  # entered and left by hand: no exit stack per request
        try:
            runtime = await using.__aenter__()
        except GatewayClosedError as exc:
            await refuse(scope, timed, exc)
            return
        except (ConfigError, OSError) as exc:  # the runtime could not start: one ERROR line
            logger.error(
                "%s %s: the gateway could not start: %s", scope["method"], scope["path"], exc
            )
            await send_error(timed, GatewayNotReadyError(f"the gateway could not start: {exc}"))
            return
        try:
            await self._serve(runtime, scope, receive, send, timed)
        except BaseException as exc:
            if not await using.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            await using.__aexit__(None, None, None)

    async def _serve(
        self, runtime: Runtime, scope: Scope, receive: Receive, send: Send, timed: Send
    ) -> None:
        headers = Headers(scope=scope)
        config = runtime.config
        client: ClientKey | None = None
        try:
            if config.cors is not None:
                if cors.is_preflight(scope, headers):
                    answer = cors.preflight_headers(config.cors, headers)
                    await timed({"type": "http.response.start", "status": 204, "headers": answer})
                    await timed({"type": "http.response.body", "body": b""})
                    return
                send = cors.with_cors(config.cors, headers, send)
                timed = cors.with_cors(config.cors, headers, timed)
            if self._keyed:
                client = access.identify(config.api_keys, headers)
            if self._method is not None and scope["method"] != self._method:
                raise InvalidRequestError(
                    f"method {scope['method']} is not allowed here; use {self._method}",
                    code="method_not_allowed",
                    status=405,
                )
            await self._handler(Incoming(scope, receive, send, headers, runtime, client))
        except ClientGone:
            return
        except GatewayError as exc:
            await refuse(scope, timed, exc, client)


async def refuse(
    scope: Scope, send: Send, error: GatewayError, client: ClientKey | None = None
) -> None:
    """Answer with ``error`` and log it as one line."""
    level = logging.INFO if error.status < 500 else logging.WARNING
    if logger.isEnabledFor(level):
        param = f" param={error.param}" if error.param else ""
        key = f" key={client.name}" if client is not None else ""
        line = (
            f"{scope['method']} {scope['path']} error {error.status} {error.code or error.type}"
            f"{param}{key}: {error.message}"
        )
        logger.log(level, "%s", line.replace("\r", "\\r").replace("\n", "\\n"))
    await send_error(send, error)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    """Paths outside ``/v1/...`` that are no route (those inside need a key first)."""
    if scope["type"] == "http":
        await refuse(scope, timed_send(send, time.monotonic()), no_such_route(scope))


def no_such_route(scope: Scope) -> NotFoundError:
    return NotFoundError(f"{scope['method']} {scope['path']} is not an endpoint of this gateway")


__all__ = ["Endpoint", "Handler", "Incoming", "UseRuntime", "no_such_route", "not_found", "refuse"]
