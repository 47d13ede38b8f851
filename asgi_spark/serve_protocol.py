"""How ``asgi-spark serve`` runs uvicorn: a deadline for request headers, a connection cap.

**Headers.**  uvicorn closes an idle kept-alive connection (``timeout_keep_alive``) but puts no
limit on a client that is still sending its request line and headers: one that sends a byte a
minute ("slowloris"), or connects and sends nothing, holds a connection for ever.  An ASGI app
is only called once the headers are complete, so it cannot help; the deadline lives in the
server's protocol.  :func:`header_timeout_protocol` returns a subclass of uvicorn's h11 or
httptools protocol class in which a timer

* starts when a connection is made, and again when a response completes on a connection that
  stays open (then it restarts at the next request's first byte, so the idle time before a
  request is the keep-alive's, not the header time);
* stops when the request's headers are complete (reading the *body* has its own deadline, the
  app's ``body_timeout``);
* when it fires, closes the connection: with a ``408`` OpenAI error body if part of a request
  arrived, silently if nothing did.

**Connections.**  ``max_connections`` (or ``--limit-concurrency``) becomes uvicorn's
``limit_concurrency``: a request that arrives while that many connections are open, or that
many requests are in progress, is answered ``503 Service Unavailable`` (uvicorn's plain text)
and its connection closed.  uvicorn counts the connection making the request too, so
:func:`uvicorn_config` passes ``max_connections + 1``: ``max_connections`` connections are
served at once.

A host application that mounts the gateway runs its own server: it must set both there (with
uvicorn: ``http=header_timeout_protocol(10)``, ``limit_concurrency=...``; the README says
more).
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
from typing import TYPE_CHECKING, Any, Final, Literal

from .config.security import DEFAULT_HEADER_TIMEOUT
from .errors import RequestTimeoutError, error_body

if TYPE_CHECKING:
    import uvicorn

    from .config import GatewayConfig

HttpImplementation = Literal["auto", "h11", "httptools"]
_REASON: Final = b"Request Timeout"


class HeaderDeadline(asyncio.Protocol):
    """The deadline, mixed in front of a uvicorn HTTP protocol class (which defines ``loop``,
    ``transport``, ``cycle`` and ``on_response_complete``)."""

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any

    _deadline: asyncio.TimerHandle | None = None
    _request_begun = False  # a byte of the awaited request has arrived
    _seen: Any = None  # the request whose headers were complete last

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._seen = self.cycle
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is not None and not self._request_begun and data:
            self._request_begun = True
            self._arm()  # the headers' time starts with their first byte
        super().data_received(data)
        if self.cycle is not self._seen:  # a request's headers are complete
            self._seen = self.cycle
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self.cycle is not self._seen:  # a pipelined request started at once
            self._seen = self.cycle
        elif not self.transport.is_closing() and self.cycle.response_complete:
            self._request_begun = False
            self._arm()  # the connection waits for another request

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:  # closed, upgraded
            return
        if self.cycle is not None and not self.cycle.response_complete:  # being answered
            return
        if self._request_begun:
            transport.write(timeout_response(self.header_timeout))
        transport.close()


def timeout_response(seconds: float) -> bytes:
    """The raw ``408`` a connection gets when its request headers are late."""
    body = error_body(
        RequestTimeoutError(
            f"the request headers did not arrive within {seconds:g} s (header_timeout)"
        )
    )
    return (
        b"HTTP/1.1 408 " + _REASON + b"\r\ncontent-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


def header_timeout_protocol(
    seconds: float = DEFAULT_HEADER_TIMEOUT, http: HttpImplementation = "auto"
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class (``"auto"``: httptools when installed, else h11, as
    uvicorn chooses) with a deadline of ``seconds`` for each request's headers.  Pass it as
    ``uvicorn.Config(app, http=...)``."""
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    base: type[asyncio.Protocol]
    if http == "httptools":
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    name = f"HeaderTimeout{base.__name__}"
    return type(name, (HeaderDeadline, base), {"header_timeout": seconds})


def uvicorn_config(
    app: Any,
    config: GatewayConfig | None,
    *,
    host: str,
    port: int,
    log_level: str,
    max_connections: int | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration ``asgi-spark serve`` runs ``app`` with: the header deadline
    and the connection cap of ``config`` (``max_connections`` overrides its cap)."""
    import uvicorn

    header_timeout = config.header_timeout if config is not None else DEFAULT_HEADER_TIMEOUT
    if max_connections is None and config is not None:
        max_connections = config.max_connections
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        http=header_timeout_protocol(header_timeout),
        limit_concurrency=None if max_connections is None else max_connections + 1,
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def open_api_warning(host: str, port: int, config: GatewayConfig | None) -> str | None:
    """The start-up warning for a server others can reach whose API needs no key."""
    if is_loopback(host) or (config is not None and config.api_keys is not None):
        return None
    return (
        f"asgi-spark serve: warning: listening on {host}:{port} without api_keys, so the API is "
        "open to the network: anyone who can reach this address can use the models (and spend "
        "the upstream quota). Set api_keys in the configuration, or listen on 127.0.0.1."
    )


__all__ = [
    "HeaderDeadline",
    "HttpImplementation",
    "header_timeout_protocol",
    "is_loopback",
    "open_api_warning",
    "timeout_response",
    "uvicorn_config",
]
