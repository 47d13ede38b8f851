"""Shared helpers for the simulator tests: signed URLs, request frames, one-shot exchanges."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from asgi_spark.adapters.spark import auth
from asgi_spark.simulator import SparkSimulator
from asgi_spark.simulator.sid import beijing_time, sid_millis

APP_ID = "sim-app"
API_KEY = "sim-key"
API_SECRET = "sim-secret"

_SIGNED = 'algorithm="hmac-sha256", headers="host date request-line", signature="{sig}"'
OFFICIAL = 'api_key="{key}", ' + _SIGNED
GO_STYLE = 'hmac username="{key}", ' + _SIGNED
# spark-ai-python builds the string with a backslash continuation: 8 extra spaces before headers=
SDK_STYLE = OFFICIAL.replace(", headers=", ",         headers=")


def signed_url(
    sim: SparkSimulator,
    version: str = "v3.5",
    *,
    key: str = API_KEY,
    secret: str = API_SECRET,
    now: float | None = None,
    suffix: str = "GMT",
    origin: str = OFFICIAL,
    raw: bool = False,
    sign_path: str | None = None,
    method: str = "GET",
) -> str:
    """A URL signed by hand so each client style can be reproduced."""
    url = sim.url_for(version)
    parts = urlsplit(url)
    date = auth.rfc1123_date(now if now is not None else _now(), suffix=suffix)
    sig = auth.signature(secret, parts.netloc, date, sign_path or parts.path, method)
    authorization = base64.b64encode(origin.format(key=key, sig=sig).encode()).decode()
    if raw:  # LC-JS: authorization appended as is, date and host with encodeURIComponent
        query = f"authorization={authorization}&date={quote(date)}&host={quote(parts.netloc)}"
    else:
        query = urlencode({"authorization": authorization, "date": date, "host": parts.netloc})
    return f"{url}?{query}"


def _now() -> float:
    import time

    return time.time()


def chat_frame(
    text: str = "hello world",
    *,
    domain: str = "generalv3.5",
    app_id: str = APP_ID,
    messages: list[dict[str, Any]] | None = None,
    functions: list[dict[str, Any]] | None = None,
    uid: str | None = "tester",
    **chat: Any,
) -> dict[str, Any]:
    header: dict[str, Any] = {"app_id": app_id}
    if uid is not None:
        header["uid"] = uid
    payload: dict[str, Any] = {"message": {"text": messages or [{"role": "user", "content": text}]}}
    if functions is not None:
        payload["functions"] = {"text": functions}
    return {"header": header, "parameter": {"chat": {"domain": domain, **chat}}, "payload": payload}


@dataclass
class Exchange:
    """Everything the client saw on one connection."""

    raw: list[str | bytes] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    close_frame_received: bool = False

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(r) for r in self.raw]

    @property
    def content(self) -> str:
        return "".join(
            item.get("content", "")
            for f in self.frames
            if "payload" in f
            for item in f["payload"]["choices"]["text"]
        )

    @property
    def last(self) -> dict[str, Any]:
        return self.frames[-1]


async def read_all(ws: Any, exchange: Exchange | None = None) -> Exchange:
    """Receive until the connection closes."""
    result = exchange or Exchange()
    try:
        while True:
            result.raw.append(await ws.recv())
    except ConnectionClosed as closed:
        result.close_frame_received = closed.rcvd is not None
        result.close_code = closed.rcvd.code if closed.rcvd else ws.close_code
        result.close_reason = closed.rcvd.reason if closed.rcvd else ws.close_reason
    return result


async def exchange(
    sim: SparkSimulator,
    frame: dict[str, Any] | str | bytes,
    *,
    version: str = "v3.5",
    url: str | None = None,
) -> Exchange:
    """Connect, send one request frame, read until the server closes."""
    async with connect(url or signed_url(sim, version), compression=None) as ws:
        await ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
        return await read_all(ws)


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until ``condition()`` holds (wrap in ``asyncio.wait_for``)."""
    while not condition():  # noqa: ASYNC110 - the simulator has no event for this
        await asyncio.sleep(0)


def assert_error(result: Exchange, code: int, error_class: str, detail: str) -> None:
    """One header-only error frame with Spark's message format, then close 1000."""
    assert len(result.frames) == 1, result.frames
    frame = result.frames[0]
    assert set(frame) == {"header"}
    header = frame["header"]
    assert header["code"] == code
    assert header["status"] == 2
    stamp = beijing_time(sid_millis(header["sid"]))
    assert header["message"] == f"{error_class}:({stamp}) {detail}"
    assert (result.close_code, result.close_reason) == (1000, "close this ws conn")
