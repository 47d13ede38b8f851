"""The simulator's I/O layer: a websockets server that plays the sans-I/O parts.

:class:`SparkSimulator` listens on a loopback port.  Per connection it verifies the handshake
(:mod:`.handshake`) in the ``process_request`` hook, waits up to ``idle_timeout`` seconds for the
single request frame, refuses a binary one with 10001 (Spark reads one JSON *text* frame; the
``accept_binary`` fault relaxes that), checks it (:mod:`.validate`), plays the script
(:mod:`.script`) while watching for a second frame (answered with 10007) or the client leaving,
and closes.  The connection is closed on every path; :attr:`SparkSimulator.open_connections`
counts TCP connections from accept to close, so tests can assert nothing leaks.

Like the real service it sends no pings and speaks no compression.  Incoming frames may be up to
:data:`MAX_FRAME_BYTES`.  ``handshake_delay`` is not bounded by a handshake timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlsplit

import msgspec
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ..adapters.spark.versions import SparkVersion, custom_version, find_version, versions
from ..clock import Clock
from ..secrets import Secret
from . import handshake
from .errors import BINARY_FRAME_DETAIL, FLOW_LIMITED_DETAIL, SparkError
from .faults import Faults
from .script import (
    IDLE_CLOSE_REASON,
    Abort,
    Close,
    Hang,
    Pause,
    Send,
    Step,
    answer_script,
    error_script,
)
from .sid import SidGenerator
from .validate import decode_request, validate_request

MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
DEFAULT_IDLE_TIMEOUT: Final = 60.0
"""Seconds the real service waits for the request frame after the handshake (spec 2.1)."""


class _Tracker:
    """Live TCP connections, each with the faults active when it was accepted.

    Wakes :meth:`SparkSimulator.wait_closed_all` when the last one closes.
    """

    def __init__(self, current_faults: Callable[[], Faults]) -> None:
        self.live: dict[ServerConnection, Faults] = {}
        self.idle = asyncio.Event()
        self.idle.set()
        self._current_faults = current_faults

    def opened(self, connection: ServerConnection) -> None:
        self.live[connection] = self._current_faults()
        self.idle.clear()

    def closed(self, connection: ServerConnection) -> None:
        self.live.pop(connection, None)
        if not self.live:
            self.idle.set()


def _tracked(tracker: _Tracker) -> type[ServerConnection]:
    class TrackedConnection(ServerConnection):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            tracker.opened(self)

        def connection_lost(self, exc: Exception | None) -> None:
            try:
                super().connection_lost(exc)
            finally:
                tracker.closed(self)

    return TrackedConnection


class SparkSimulator:
    """A faithful, offline iFlytek Spark WebSocket chat service on ``host:port``.

    ``port=0`` picks a free port (read :attr:`url` after :meth:`start`).  Credentials may be
    ``str`` or :class:`~asgi_spark.secrets.Secret`; the secret is never shown.  ``clock`` is the
    server's Unix time for the ±300 s date check and the sids.  ``idle_timeout`` is how long a
    connection may stay silent after the handshake (60 s like the real service).  Every version of
    the version table is served at its path; ``extra_endpoints`` adds ``{path: domain}`` pairs
    (fine-tuned models) with permissive limits.  ``record_requests`` keeps every request frame
    in :attr:`requests`.  ``faults`` applies to every connection accepted
    after it is set, until replaced (a connection keeps the faults it was accepted with);
    ``Faults()`` resets.

    Use ``async with SparkSimulator(...) as sim:`` or :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        *,
        app_id: str | Secret = "demo-app",
        api_key: str | Secret = "demo-key",
        api_secret: str | Secret = "demo-secret",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock = time.time,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        extra_endpoints: Mapping[str, str] | None = None,
        faults: Faults | None = None,
        record_requests: bool = True,
    ) -> None:
        self._credential = handshake.Credential(
            _reveal(app_id), _reveal(api_key), _reveal(api_secret)
        )
        self._credentials = {self._credential.api_key: self._credential}
        self._endpoints: dict[str, SparkVersion] = {row.path: row for row in versions()}
        for path, domain in (extra_endpoints or {}).items():
            if not path.startswith("/"):
                raise ValueError(f"an endpoint path must start with '/': {path!r}")
            self._endpoints[path] = custom_version(path, domain)
        self._extra = dict(extra_endpoints or {})
        self._host = host
        self._port = port
        self._clock = clock
        self.idle_timeout = idle_timeout
        self._faults = Faults()
        self._faults_left: int | None = None
        if faults is not None:
            self.faults = faults
        self.record_requests = record_requests
        self.requests: list[dict[str, Any]] = []
        """Every decoded request frame (JSON objects only), in the order received.  It grows
        without bound: long-lived simulators (demo, benchmarks) pass ``record_requests=False``."""
        self._server: Server | None = None
        self._tracker: _Tracker | None = None
        self._sids = SidGenerator()
        self._answering = 0
        self.peak_answering = 0
        """The most requests answered at once (from the request frame to the last frame sent):
        the concurrency a gateway's limits let through."""

    def __repr__(self) -> str:
        state = self.url if self._server is not None else "stopped"
        return f"SparkSimulator({state}, app_id={self._credential.app_id!r})"

    # ---------------------------------------------------------------- public interface

    @property
    def faults(self) -> Faults:
        return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        faults.check_combination()
        self._faults = faults
        self._faults_left = faults.times

    def _next_faults(self) -> Faults:
        """The faults of a connection being accepted (``times`` counts them down)."""
        if self._faults_left is None:
            return self._faults
        if self._faults_left == 0:
            return Faults()
        self._faults_left -= 1
        return self._faults

    @property
    def url(self) -> str:
        """``ws://host:port``, the base URL without a path.  Needs a started simulator."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self._server.sockets[0].getsockname()[1]}"

    def url_for(self, version: str) -> str:
        """URL of a version (name, alias, domain or path of the version table, or an extra
        endpoint's path or domain), e.g. ``url_for("v3.5")`` → ``ws://127.0.0.1:54321/v3.5/chat``.
        """
        if version in self._endpoints:
            return self.url + version
        for path, domain in self._extra.items():
            if version == domain:
                return self.url + path
        row = find_version(version)
        if row is None:
            known = ", ".join([row.name for row in versions()] + list(self._extra.values()))
            raise ValueError(f"unknown Spark version {version!r} (known: {known})")
        return self.url + row.path

    @property
    def open_connections(self) -> int:
        """TCP connections currently open (handshaking, answering or closing)."""
        return len(self._tracker.live) if self._tracker is not None else 0

    async def wait_closed_all(self) -> None:
        """Return once no connection is open."""
        if self._tracker is not None:
            await self._tracker.idle.wait()

    async def start(self) -> None:
        """Start listening.  ``RuntimeError`` if already started."""
        if self._server is not None:
            raise RuntimeError("the simulator is already started")
        self._tracker = _Tracker(self._next_faults)
        self._server = await serve(
            self._serve,
            self._host,
            self._port,
            process_request=self._process_request,
            create_connection=_tracked(self._tracker),
            compression=None,
            ping_interval=None,
            open_timeout=None,
            max_size=MAX_FRAME_BYTES,
            server_header=None,
        )
        self._sids = SidGenerator(port=self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close every connection (open ones with 1001) and stop listening.  Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        assert self._tracker is not None
        for connection in list(self._tracker.live):  # a copy: aborting may change it
            if connection.state is State.CONNECTING:  # delayed handshake: nobody to talk to
                connection.transport.abort()
        await server.wait_closed()

    async def __aenter__(self) -> SparkSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------------- handshake

    def _faults_of(self, connection: ServerConnection) -> Faults:
        """The faults that were active when ``connection`` was accepted."""
        assert self._tracker is not None
        return self._tracker.live.get(connection, self._faults)

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        faults = self._faults_of(connection)
        if faults.handshake_delay:
            # Wait, but not for a client that is already gone.
            gone = asyncio.ensure_future(connection.wait_closed())
            try:
                await asyncio.wait([gone], timeout=faults.handshake_delay)
            finally:
                gone.cancel()
        if faults.handshake_status is not None:
            return _json_response(handshake.fault_rejection(faults.handshake_status))
        outcome = handshake.verify_handshake(
            request.path,
            endpoints=self._endpoints,
            credentials=self._credentials,
            now=self._clock(),
        )
        if isinstance(outcome, handshake.Rejected):
            return _json_response(outcome)
        return None

    # --------------------------------------------------------------------- connection

    async def _serve(self, connection: ServerConnection) -> None:
        """Answer one connection.  websockets closes it when this returns."""
        assert connection.request is not None  # set by the handshake
        version = self._endpoints[urlsplit(connection.request.path).path]
        try:
            try:
                data = await asyncio.wait_for(connection.recv(), self.idle_timeout)
            except asyncio.TimeoutError:
                await connection.close(1000, IDLE_CLOSE_REASON)
                return
            ms = int(self._clock() * 1000)
            sid = self._sids(ms)
            steps = self._script(data, version, self._faults_of(connection), sid, ms)
            self._answering += 1
            self.peak_answering = max(self.peak_answering, self._answering)
            try:
                await self._play_watching(connection, steps, sid, ms)
            finally:
                self._answering -= 1
        except ConnectionClosed:
            pass

    def _script(
        self, data: str | bytes, version: SparkVersion, faults: Faults, sid: str, ms: int
    ) -> list[Step]:
        if isinstance(data, bytes) and not faults.accept_binary:
            # Spark reads one JSON text frame (spec 2); websockets gives bytes for opcode 0x2.
            return error_script(SparkError(10001, "ClientMsgError", BINARY_FRAME_DETAIL), sid, ms)
        try:
            frame = decode_request(data)
            self._record(frame)
            request = validate_request(frame, version=version, app_id=self._credential.app_id)
        except SparkError as error:
            return error_script(error, sid, ms)
        return answer_script(request, faults, sid, ms)

    def _record(self, frame: Any) -> None:
        if self.record_requests and isinstance(frame, dict):
            self.requests.append(frame)

    async def _play_watching(
        self, connection: ServerConnection, steps: list[Step], sid: str, ms: int
    ) -> None:
        """Play ``steps``; a frame received meanwhile stops them with a 10007 error."""
        player = asyncio.ensure_future(_play(connection, steps))
        reader = asyncio.ensure_future(connection.recv())
        try:
            await asyncio.wait([player, reader], return_when=asyncio.FIRST_COMPLETED)
            if player.done():
                player.result()  # raises ConnectionClosed if the client left first
                return
            if reader.exception() is not None:  # the client left: stop answering
                return
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player
            with contextlib.suppress(SparkError):
                self._record(decode_request(reader.result()))
            busy = SparkError.for_code(10007, FLOW_LIMITED_DETAIL)
            await _play(connection, error_script(busy, sid, ms))
        finally:
            for task in (player, reader):
                task.cancel()
            await asyncio.gather(player, reader, return_exceptions=True)


async def _play(connection: ServerConnection, steps: list[Step]) -> None:
    for step in steps:
        match step:
            case Send(data):
                await connection.send(data)
            case Pause(seconds):
                await asyncio.sleep(seconds)
            case Close(code, reason):
                await connection.close(code, reason)
                return
            case Abort():
                connection.transport.abort()
                return
            case Hang():
                await connection.wait_closed()
                return


def _json_response(rejected: handshake.Rejected) -> Response:
    body = msgspec.json.encode({"message": rejected.message})
    try:
        reason = http.HTTPStatus(rejected.status).phrase
    except ValueError:
        reason = "Error"
    headers = Headers(
        [
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
        ]
    )
    return Response(rejected.status, reason, headers, body)


def _reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value
