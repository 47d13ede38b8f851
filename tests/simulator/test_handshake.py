"""Handshake verification (spec 1.4, 5.1): every accepted client style and every refusal."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Subprotocol

from asgi_spark.adapters.spark import auth
from asgi_spark.adapters.spark.versions import find_version
from asgi_spark.simulator import SparkSimulator
from asgi_spark.simulator import handshake as hs

from .conftest import FIXED_NOW
from .helpers import (
    API_KEY,
    API_SECRET,
    GO_STYLE,
    OFFICIAL,
    SDK_STYLE,
    chat_frame,
    exchange,
    read_all,
    signed_url,
)

# ------------------------------------------------------------------ sans-I/O, official vector

VECTOR_KEY = "addd2272b6d8b7c8abdd79531420ca3b"
VECTOR_SECRET = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi"
VECTOR_AUTHORIZATION = (
    "YXBpX2tleT0iYWRkZDIyNzJiNmQ4YjdjOGFiZGQ3OTUzMTQyMGNhM2IiLCBhbGdvcml0aG09ImhtYWMtc2hhMjU2"
    "IiwgaGVhZGVycz0iaG9zdCBkYXRlIHJlcXVlc3QtbGluZSIsIHNpZ25hdHVyZT0iejVnSGR1M3B4VlY0QURNeWs0"
    "Njd3T1dEUTlxNkJRelIzbmZNVGpjL0RhUT0i"
)
VECTOR_DATE = "Fri, 05 May 2023 10:43:39 GMT"


def _verify(target: str, now: float) -> hs.Accepted | hs.Rejected:
    lite = find_version("v1.1")
    assert lite is not None
    return hs.verify_handshake(
        target,
        endpoints={lite.path: lite},
        credentials={VECTOR_KEY: hs.Credential("app", VECTOR_KEY, VECTOR_SECRET)},
        now=now,
    )


def test_official_vector_is_accepted() -> None:
    query = urlencode(
        {"authorization": VECTOR_AUTHORIZATION, "date": VECTOR_DATE, "host": "spark-api.xf-yun.com"}
    )
    now = hs.parse_date(VECTOR_DATE)
    assert now == 1683283419
    outcome = _verify(f"/v1.1/chat?{query}", now)
    assert isinstance(outcome, hs.Accepted)
    assert outcome.version.path == "/v1.1/chat"


def test_official_vector_signed_for_another_host_does_not_match() -> None:
    query = urlencode({"authorization": VECTOR_AUTHORIZATION, "date": VECTOR_DATE, "host": "evil"})
    assert _verify(f"/v1.1/chat?{query}", 1683283419) == hs.Rejected(401, hs.MISMATCH)


@pytest.mark.parametrize(
    "date",
    [
        "Fri, 05 May 2023 10:43:39 +0000",
        "Fri, 5 May 2023 10:43:39 GMT",
        "Fri, 31 Feb 2023 10:43:39 GMT",
        "Thu, 05 May 2023 10:43:39 GMT",  # 5 May 2023 was a Friday
        " Fri, 05 May 2023 10:43:39 GMT",
        "",
    ],
)
def test_dates_that_are_not_rfc1123_gmt_or_utc(date: str) -> None:
    assert hs.parse_date(date) is None


# ---------------------------------------------------------------------------- over the wire


@pytest.mark.parametrize(
    ("origin", "suffix", "raw"),
    [
        (OFFICIAL, "GMT", False),
        (GO_STYLE, "GMT", False),
        (OFFICIAL, "UTC", False),
        (GO_STYLE, "UTC", False),
        (SDK_STYLE, "GMT", False),
        (OFFICIAL, "GMT", True),
    ],
    ids=[
        "api_key",
        "hmac-username",
        "utc-date",
        "go-style-utc",
        "sdk-8-spaces",
        "raw-authorization",
    ],
)
async def test_accepted_client_styles(
    sim: SparkSimulator, origin: str, suffix: str, raw: bool
) -> None:
    url = signed_url(sim, origin=origin, suffix=suffix, raw=raw)
    result = await exchange(sim, chat_frame(), url=url)
    assert result.last["header"]["status"] == 2
    assert result.last["header"]["code"] == 0


async def test_raw_authorization_with_plus_turned_into_space(
    make_sim: Callable[..., SparkSimulator],
) -> None:
    """LC-JS sends base64 unencoded; form decoding turns its '+' into ' ', which must be repaired.

    Base64 of ASCII text has a '+' only where a '>' or '~' sits at a position 2 (mod 3), so the
    key has three '~' in a row.
    """
    key = "sim~~~key"
    async with make_sim(api_key=key) as sim:
        url = signed_url(sim, key=key, raw=True)
        authorization = urlsplit(url).query.split("&")[0]
        assert "+" in authorization
        result = await exchange(sim, chat_frame(), url=url)
        assert result.last["header"]["code"] == 0
        await sim.wait_closed_all()


async def test_sign_url_of_the_project_is_accepted(sim: SparkSimulator) -> None:
    from asgi_spark.adapters.spark.auth import sign_url

    result = await exchange(
        sim, chat_frame(), url=sign_url(sim.url_for("v3.5"), API_KEY, API_SECRET)
    )
    assert result.last["header"]["code"] == 0


async def _refusal(url: str) -> tuple[int, dict[str, str], str]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url):
            pass
    response = caught.value.response
    return response.status_code, json.loads(response.body), response.headers["Content-Type"]


def _strip_param(url: str, name: str) -> str:
    base, query = url.split("?", 1)
    kept = [p for p in query.split("&") if not p.startswith(f"{name}=")]
    return f"{base}?{'&'.join(kept)}"


def _with_authorization(sim: SparkSimulator, decoded: str) -> str:
    url = signed_url(sim)
    authorization = base64.b64encode(decoded.encode()).decode()
    base, query = url.split("?", 1)
    rest = [p for p in query.split("&") if not p.startswith("authorization=")]
    return f"{base}?{urlencode({'authorization': authorization})}&{'&'.join(rest)}"


@pytest.mark.parametrize("missing", ["authorization", "date", "host"])
async def test_missing_parameter_is_unauthorized(sim: SparkSimulator, missing: str) -> None:
    status, body, content_type = await _refusal(_strip_param(signed_url(sim), missing))
    assert (status, body) == (401, {"message": "Unauthorized"})
    assert content_type.startswith("application/json")


async def test_no_query_at_all_is_unauthorized(sim: SparkSimulator) -> None:
    assert (await _refusal(sim.url_for("v3.5")))[:2] == (401, {"message": "Unauthorized"})


@pytest.mark.parametrize(
    "authorization",
    [
        "this is not base64!",
        "garbage without pairs",
        'api_key="k", algorithm="hmac-sha1", headers="host date request-line", signature="x"',
        'api_key="k", algorithm="hmac-sha256", headers="host date", signature="x"',
        'algorithm="hmac-sha256", headers="host date request-line", signature="x"',
        'api_key="k" algorithm="hmac-sha256" headers="host date request-line" signature="x"',
    ],
    ids=["not-base64", "no-pairs", "wrong-algorithm", "wrong-headers", "no-key", "no-commas"],
)
async def test_unparsable_authorization(sim: SparkSimulator, authorization: str) -> None:
    if authorization == "this is not base64!":
        base, query = signed_url(sim).split("?", 1)
        rest = [p for p in query.split("&") if not p.startswith("authorization=")]
        url = f"{base}?authorization=%21%21%21&{'&'.join(rest)}"
    else:
        url = _with_authorization(sim, authorization)
    status, body, _ = await _refusal(url)
    assert (status, body) == (401, {"message": "HMAC signature cannot be verified"})


_REST = 'algorithm="hmac-sha256", headers="host date request-line", signature="{sig}"'


@pytest.mark.parametrize(
    "origin",
    [
        'API_KEY="{key}", ' + _REST,
        'api_key="{key}", ' + _REST.replace("hmac-sha256", "HMAC-SHA256"),
        'api_key="{key}", ' + _REST.replace("host date", "host  date"),
        'api_key="{key}", ' + _REST.replace("host date", "date host"),
        'api_key="{key}", realm="spark", ' + _REST,
        'api_key="{key}", api_key="{key}", ' + _REST,
        'api_key="{key}", username="{key}", ' + _REST,
        'HMAC username="{key}", ' + _REST,
    ],
    ids=[
        "upper-case-name",
        "upper-case-algorithm",
        "headers-double-space",
        "headers-reordered",
        "unknown-pair",
        "duplicate-pair",
        "api_key-and-username",
        "upper-case-scheme",
    ],
)
async def test_authorization_fields_are_exact(sim: SparkSimulator, origin: str) -> None:
    """Correctly signed, but not in a form the spec names (1.2.4, 1.4.3): refused."""
    status, body, _ = await _refusal(signed_url(sim, origin=origin))
    assert (status, body) == (401, {"message": "HMAC signature cannot be verified"})


async def test_host_param_need_not_match_the_host_header(sim: SparkSimulator) -> None:
    """SDK-JAVA signs ``URL.getHost()`` (no port): the ``host`` param is what counts (1.4.5)."""
    url = sim.url_for("v3.5")
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    date = auth.rfc1123_date(time.time())
    sig = auth.signature(API_SECRET, parts.hostname, date, parts.path)
    query = urlencode(
        {"authorization": auth.authorization(API_KEY, sig), "date": date, "host": parts.hostname}
    )
    result = await exchange(sim, chat_frame(), url=f"{url}?{query}")
    assert result.last["header"]["code"] == 0


async def test_compression_offer_is_declined(sim: SparkSimulator) -> None:
    """The spec is silent on extensions: none is negotiated, so clients must work without."""
    async with connect(signed_url(sim), compression="deflate") as ws:
        assert ws.request is not None and ws.response is not None
        assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        await ws.send(json.dumps(chat_frame()))
        result = await read_all(ws)
    assert result.last["header"]["code"] == 0


async def test_subprotocol_offer_is_ignored(sim: SparkSimulator) -> None:
    async with connect(signed_url(sim), subprotocols=[Subprotocol("chat")]) as ws:
        assert ws.subprotocol is None
        assert ws.response is not None
        assert "Sec-WebSocket-Protocol" not in ws.response.headers
        await ws.send(json.dumps(chat_frame()))
        result = await read_all(ws)
    assert result.last["header"]["code"] == 0


async def test_unknown_api_key(sim: SparkSimulator) -> None:
    status, body, _ = await _refusal(signed_url(sim, key="someone-else"))
    assert (status, body) == (
        401,
        {"message": "HMAC signature cannot be verified: fail to retrieve credential"},
    )


@pytest.mark.parametrize(
    "kind", ["wrong-secret", "swapped-key-and-secret", "other-path", "other-method"]
)
async def test_signature_mismatch(sim: SparkSimulator, kind: str) -> None:
    if kind == "wrong-secret":
        url = signed_url(sim, secret="not-the-secret")
    elif kind == "swapped-key-and-secret":
        url = signed_url(sim, key=API_KEY, secret=API_KEY)
    elif kind == "other-path":
        url = signed_url(sim, sign_path="/v3.1/chat")
    else:
        url = signed_url(sim, method="POST")  # the HTTP API's request line
    status, body, _ = await _refusal(url)
    assert (status, body) == (401, {"message": "HMAC signature does not match"})


async def test_unknown_path_is_not_found(sim: SparkSimulator) -> None:
    url = signed_url(sim).replace("/v3.5/chat", "/v9.9/chat")
    assert (await _refusal(url))[:2] == (404, {"message": "Not Found"})


SKEW = (
    "HMAC signature cannot be verified, a valid date or x-date header is required "
    "for HMAC Authentication"
)


@pytest.mark.parametrize("offset", [299, -299, 300])
async def test_clock_skew_within_limit_is_accepted(fixed_sim: SparkSimulator, offset: int) -> None:
    result = await exchange(
        fixed_sim, chat_frame(), url=signed_url(fixed_sim, now=FIXED_NOW + offset)
    )
    assert result.last["header"]["code"] == 0


@pytest.mark.parametrize("offset", [301, -301, 86400])
async def test_clock_skew_over_limit_is_forbidden(fixed_sim: SparkSimulator, offset: int) -> None:
    status, body, _ = await _refusal(signed_url(fixed_sim, now=FIXED_NOW + offset))
    assert (status, body) == (403, {"message": SKEW})


async def test_skew_is_checked_before_the_credential(fixed_sim: SparkSimulator) -> None:
    """Kong's order: an unknown key with a bad date gets the date error (spec 1.2, #99)."""
    status, body, _ = await _refusal(signed_url(fixed_sim, key="unknown", now=FIXED_NOW + 1000))
    assert (status, body) == (403, {"message": SKEW})


async def test_unparsable_date_is_forbidden(sim: SparkSimulator) -> None:
    base, query = signed_url(sim).split("?", 1)
    rest = [p for p in query.split("&") if not p.startswith("date=")]
    url = f"{base}?{'&'.join(rest)}&{urlencode({'date': 'yesterday'})}"
    assert (await _refusal(url))[:2] == (403, {"message": SKEW})


async def test_refused_handshakes_leave_no_connection(sim: SparkSimulator) -> None:
    for _ in range(3):
        await _refusal(signed_url(sim, secret="bad"))
    await sim.wait_closed_all()
    assert sim.open_connections == 0


async def test_injected_clock_drives_the_check() -> None:
    clock_now = [time.time()]
    async with SparkSimulator(api_key="k", api_secret="s", clock=lambda: clock_now[0]) as sim:
        url = signed_url(sim, key="k", secret="s", now=clock_now[0])
        clock_now[0] += 301
        assert (await _refusal(url))[0] == 403
        clock_now[0] -= 2
        async with connect(url):
            pass
        await sim.wait_closed_all()
