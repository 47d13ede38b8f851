"""Issue 7 item 4: the gateway's wire against the official client's, by bytes.

The gateway (through uvicorn, asked with the ``openai`` SDK) and iFlytek's own Python SDK
``spark-ai-python`` (``ChatSparkLLM``, websocket-client underneath, run in a thread) each ask the
capture server the same question at ``/v3.5/chat``.  The tests then compare the two captures:
first what must hold for both (what the real service needs), then the differences, which are
pinned so the table "Wire parity with the official client" in the README stays true.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import openai
import pytest_asyncio
from sparkai.core.messages import ChatMessage
from sparkai.llm.llm import ChatSparkLLM

from asgi_spark.adapters.spark.versions import SparkVersion, find_version
from tests.e2e.server import API_KEY, API_SECRET, APP_ID

from .capture import DEFAULT_ANSWER, OP_CLOSE, OP_TEXT, SPARK_CLOSE_REASON, Captured, CaptureServer
from .conftest import model_id


def _version(name: str) -> SparkVersion:
    version = find_version(name)
    assert version is not None
    return version


VERSION = _version("v3.5")
QUESTION = "wire parity: 你好，星火"

#: The authorization_origin (spec 1.2 step 4), with the whitespace after each comma captured.
AUTHORIZATION = re.compile(
    r'api_key="(?P<api_key>[^"]+)",(?P<gap1>\s+)algorithm="hmac-sha256",(?P<gap2>\s+)'
    r'headers="host date request-line",(?P<gap3>\s+)signature="(?P<signature>[A-Za-z0-9+/]{43}=)"'
)
RFC1123_GMT = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d\d:\d\d:\d\d GMT"
)


@dataclass(frozen=True)
class Pair:
    gateway: Captured
    sdk: Captured
    #: What each client made of the answer (its text, or the exception it raised).
    answers: tuple[object, object]

    def both(self) -> list[tuple[str, Captured]]:
        return [("gateway", self.gateway), ("official SDK", self.sdk)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pair(aclient: openai.AsyncOpenAI, capture: CaptureServer) -> Pair:
    capture.skip()
    gateway_answer: object
    try:
        completion = await aclient.chat.completions.create(
            model=model_id("v3.5"), messages=[{"role": "user", "content": QUESTION}]
        )
        gateway_answer = completion.choices[0].message.content
    except openai.APIError as exc:
        gateway_answer = exc
    gateway = await capture.completed()

    llm = ChatSparkLLM(
        spark_api_url=capture.url + VERSION.path,
        spark_app_id=APP_ID,
        spark_api_key=API_KEY,
        spark_api_secret=API_SECRET,
        spark_llm_domain=VERSION.domain,
        request_timeout=5,
    )
    sdk_answer: object
    try:
        result = await asyncio.to_thread(
            llm.generate, [[ChatMessage(role="user", content=QUESTION)]]
        )
        sdk_answer = result.generations[0][0].text
    except Exception as exc:
        sdk_answer = exc
    sdk = await capture.completed()
    return Pair(gateway, sdk, (gateway_answer, sdk_answer))


def request_of(conn: Captured) -> dict[str, Any]:
    (frame,) = conn.data_frames
    return json.loads(frame.payload.decode("utf-8"))  # type: ignore[no-any-return]


def authorization_of(conn: Captured) -> re.Match[str]:
    decoded = base64.b64decode(conn.query_params()["authorization"], validate=True).decode()
    match = AUTHORIZATION.fullmatch(decoded)
    assert match is not None, decoded
    return match


# ------------------------------------------------------------------ what must hold for both


def test_both_read_the_whole_answer(pair: Pair) -> None:
    assert pair.answers == ("".join(DEFAULT_ANSWER), "".join(DEFAULT_ANSWER))


def test_both_handshakes_are_plain_upgrades_without_compression(pair: Pair) -> None:
    for who, conn in pair.both():
        assert conn.violations == [], who
        assert conn.handshake_accepted, who
        assert (conn.method, conn.path, conn.http_version) == ("GET", VERSION.path, "HTTP/1.1")
        assert conn.header("Sec-WebSocket-Extensions") is None, f"{who} offers an extension"
        assert conn.header("Sec-WebSocket-Protocol") is None, who
        assert conn.header("Sec-WebSocket-Version") == "13", who
        assert (conn.header("Upgrade") or "").lower() == "websocket", who


def test_host_header_is_the_signed_host(pair: Pair, capture: CaptureServer) -> None:
    for who, conn in pair.both():
        signed = conn.query_params()["host"]
        assert conn.header("Host") == signed == f"127.0.0.1:{capture.port}", who


def test_query_has_the_same_keys_in_the_same_form_encoding(pair: Pair) -> None:
    for who, conn in pair.both():
        assert conn.query_keys == ["authorization", "date", "host"], who
        # Both are Python's urlencode: '+' for spaces, %2C, %3A, %3D.  Re-encoding the decoded
        # values gives back the exact bytes that were sent.
        assert urlencode(conn.query_params()) == conn.query, who
        assert "+" in conn.query.split("date=")[1].split("&")[0], who


def test_authorization_is_the_official_format_and_verifies(pair: Pair) -> None:
    for who, conn in pair.both():
        params = conn.query_params()
        match = authorization_of(conn)
        assert match["api_key"] == API_KEY, who
        origin = f"host: {params['host']}\ndate: {params['date']}\nGET {conn.path} HTTP/1.1"
        digest = hmac.new(API_SECRET.encode(), origin.encode(), hashlib.sha256).digest()
        assert match["signature"] == base64.b64encode(digest).decode(), who


def test_date_is_rfc1123_gmt_and_current(pair: Pair) -> None:
    for who, conn in pair.both():
        date = conn.query_params()["date"]
        assert RFC1123_GMT.fullmatch(date), (who, date)
        sent = email.utils.parsedate_to_datetime(date).timestamp()
        assert abs(time.time() - sent) < 300, who  # Spark's allowed skew (spec 1.2)


def test_request_is_one_masked_text_frame_for_both(pair: Pair) -> None:
    for who, conn in pair.both():
        (frame,) = conn.data_frames
        assert frame.opcode == OP_TEXT, who
        assert frame.fin and frame.masked and frame.rsv == (False, False, False), who
        assert conn.messages == [(OP_TEXT, frame.payload)], who
    gateway, sdk = request_of(pair.gateway), request_of(pair.sdk)
    assert set(gateway) == set(sdk) == {"header", "parameter", "payload"}
    assert gateway["header"]["app_id"] == sdk["header"]["app_id"] == APP_ID
    assert set(gateway["parameter"]) == set(sdk["parameter"]) == {"chat"}
    assert gateway["parameter"]["chat"]["domain"] == sdk["parameter"]["chat"]["domain"]
    assert gateway["payload"] == sdk["payload"]
    assert gateway["payload"]["message"]["text"] == [{"role": "user", "content": QUESTION}]


def test_both_answer_sparks_close_with_1000(pair: Pair) -> None:
    for who, conn in pair.both():
        assert conn.opcodes == [OP_TEXT, OP_CLOSE], who
        assert conn.close_code == 1000, who
        assert conn.close_reason in ("", SPARK_CLOSE_REASON), who
        assert not conn.client_closed_first and not conn.eof_without_close, who


def test_neither_pings_during_the_answer(pair: Pair) -> None:
    for who, conn in pair.both():
        assert conn.pings == [], who


# ------------------------------------------------------------------ the recorded differences


def differences(pair: Pair) -> dict[str, tuple[Any, Any]]:
    """(gateway, official SDK) for every point where the two differ on the wire."""
    gateway, sdk = pair.gateway, pair.sdk
    g_request, s_request = request_of(gateway), request_of(sdk)
    g_auth, s_auth = authorization_of(gateway), authorization_of(sdk)
    found: dict[str, tuple[Any, Any]] = {
        "header names": (gateway.header_names, sdk.header_names),
        "User-Agent": (gateway.header("User-Agent"), sdk.header("User-Agent")),
        "Origin": (gateway.header("Origin"), sdk.header("Origin")),
        "authorization spacing": (
            tuple(len(g_auth[f"gap{i}"]) for i in (1, 2, 3)),
            tuple(len(s_auth[f"gap{i}"]) for i in (1, 2, 3)),
        ),
        "header fields": (g_request["header"], s_request["header"]),
        "parameter.chat": (g_request["parameter"]["chat"], s_request["parameter"]["chat"]),
        "JSON text": (
            gateway.data_frames[0].payload.isascii(),
            sdk.data_frames[0].payload.isascii(),
        ),
        "close reason": (gateway.close_reason, sdk.close_reason),
    }
    return {what: pair_ for what, pair_ in found.items() if pair_[0] != pair_[1]}


def test_the_differences_are_the_ones_the_readme_lists(pair: Pair) -> None:
    """If this fails, the wire changed: update the README table, then this test."""
    found = differences(pair)
    user_agent = found.pop("User-Agent")
    assert re.fullmatch(r"Python/3\.\d+ websockets/[\d.]+", user_agent[0] or "")
    assert re.fullmatch(r"SparkAISdk/python-v[\d.]+", user_agent[1] or "")
    origin = found.pop("Origin")
    assert origin == (None, f"http://{pair.sdk.header('Host')}")
    # Spark closes first; the gateway echoes its reason if it read the close frame before it
    # finished (every run on loopback), else sends its own 1000 with no reason, like the SDK.
    close = found.pop("close reason", (pair.gateway.close_reason, pair.sdk.close_reason))
    assert close in ((SPARK_CLOSE_REASON, ""), ("", ""))
    header_names = found.pop("header names")
    assert header_names == (
        [
            "Host",
            "Upgrade",
            "Connection",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "User-Agent",
        ],
        [
            "Upgrade",
            "Host",
            "Origin",
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "Connection",
            "User-Agent",
        ],
    )
    assert found == {
        # spark-ai-python's backslash continuation puts 8 more spaces before headers= (1.2)
        "authorization spacing": ((1, 1, 1), (1, 9, 1)),
        "header fields": ({"app_id": APP_ID}, {"app_id": APP_ID, "uid": "spark_sdk_user"}),
        "parameter.chat": (
            {"domain": "generalv3.5", "max_tokens": VERSION.default_max_tokens},
            {"domain": "generalv3.5", "temperature": 0.5, "top_k": 4, "max_tokens": 2048},
        ),
        # json.dumps escapes non-ASCII as \\uXXXX; msgspec writes UTF-8
        "JSON text": (False, True),
    }
