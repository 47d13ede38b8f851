"""Opening a :class:`~.link.Link`: TCP (directly or through an HTTP ``CONNECT`` or SOCKS
proxy, with ``websockets``' helpers), TLS for ``wss://``, and the opening handshake, within one
deadline.  The caller owns the link it gets and must close it
(:class:`~.connector.DirectConnection` does, on every path).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl as ssl_module
from typing import Literal

from websockets.asyncio.client import connect_http_proxy, connect_socks_proxy
from websockets.client import ClientProtocol
from websockets.http11 import USER_AGENT

try:
    from websockets.proxy import get_proxy, parse_proxy
except ImportError:  # websockets 15 keeps them in websockets.uri
    from websockets.uri import get_proxy, parse_proxy  # type: ignore[attr-defined,no-redef]
from websockets.uri import WebSocketURI, parse_uri

from .link import Link
from .wire_log import UPSTREAM_LOG


async def open_link(
    url: str,
    *,
    max_size: int,
    proxy: Literal["auto"] | str | None,
    limit: float | None,
) -> Link:
    """Open a WebSocket to ``url`` (through ``proxy``: ``"auto"`` follows the environment)
    within ``limit`` seconds for TCP, TLS and the handshake.

    Raises what the handshake raised (``websockets.exceptions.InvalidStatus`` for a refusal,
    another ``InvalidHandshake`` for a bad answer), ``OSError`` when unreachable and
    ``TimeoutError`` when ``limit`` passed; the socket is closed then.
    """
    uri = _parse_uri(url)
    loop = asyncio.get_running_loop()
    protocol = ClientProtocol(uri, max_size=max_size, logger=UPSTREAM_LOG)
    # the fast paths read the traffic websockets would log frame by frame: off at DEBUG
    link = Link(
        protocol, loop, max_size=max_size, fast=not UPSTREAM_LOG.isEnabledFor(logging.DEBUG)
    )
    try:
        if limit is None:
            await _open(link, uri, proxy)
        elif hasattr(asyncio, "timeout"):  # Python 3.11+: a timer, no task
            async with asyncio.timeout(limit):
                await _open(link, uri, proxy)
        else:  # pragma: no cover - Python 3.10
            await asyncio.wait_for(_open(link, uri, proxy), limit)
    except BaseException:
        link.abort()
        raise
    return link


#: The URL of every connection opened within one second is the same (signed per second).
_parse_uri = functools.lru_cache(maxsize=64)(parse_uri)


async def _open(link: Link, uri: WebSocketURI, proxy: str | None) -> None:
    await _connect(link, uri, get_proxy(uri) if proxy == "auto" else proxy)
    protocol = link.protocol
    request = protocol.connect()
    request.headers["User-Agent"] = USER_AGENT
    protocol.send_request(request)
    link._flush()
    while not link.accepted and protocol.handshake_exc is None and not link.closed:
        waiter = link._waiter = link.loop.create_future()
        try:
            await waiter
        finally:
            link._waiter = None
    if protocol.handshake_exc is not None:  # the first protocol object judged the answer
        raise protocol.handshake_exc
    if not link.accepted:  # pragma: no cover - receive_eof sets handshake_exc
        raise ConnectionResetError("upstream closed the connection during the handshake")


async def _connect(link: Link, uri: WebSocketURI, proxy: str | None) -> None:
    loop = link.loop
    tls = True if uri.secure else None
    hostname = uri.host if uri.secure else None
    if proxy is None:
        await loop.create_connection(
            lambda: link, uri.host, uri.port, ssl=tls, server_hostname=hostname
        )
        return
    parsed = parse_proxy(proxy)
    if parsed.scheme.startswith("socks"):
        sock = await connect_socks_proxy(parsed, uri)
        await loop.create_connection(lambda: link, sock=sock, ssl=tls, server_hostname=hostname)
        return
    options: dict[str, object] = {"ssl": True} if parsed.scheme == "https" else {}
    transport = await connect_http_proxy(parsed, uri, user_agent_header=USER_AGENT, **options)
    transport.set_protocol(link)
    if uri.secure:
        try:
            tunnelled = await loop.start_tls(
                transport, link, ssl_module.create_default_context(), server_hostname=uri.host
            )
        except BaseException:
            transport.abort()
            raise
        assert tunnelled is not None
        transport = tunnelled
    link.connection_made(transport)


__all__ = ["open_link"]
