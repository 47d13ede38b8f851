"""URL signing (spec 1.2) against every test vector of spec 1.3."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from asgi_spark.adapters.spark import auth

API_KEY = "addd2272b6d8b7c8abdd79531420ca3b"
API_SECRET = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi"
HOST = "spark-api.xf-yun.com"
DATE = "Fri, 05 May 2023 10:43:39 GMT"
DATE_UTC = "Fri, 05 May 2023 10:43:39 UTC"
TIMESTAMP = 1683283419.0  # DATE as a Unix timestamp

OFFICIAL_SIGNATURE = "z5gHdu3pxVV4ADMyk467wOWDQ9q6BQzR3nfMTjc/DaQ="
OFFICIAL_AUTHORIZATION = (
    "YXBpX2tleT0iYWRkZDIyNzJiNmQ4YjdjOGFiZGQ3OTUzMTQyMGNhM2IiLCBhbGdvcml0aG09ImhtYWMtc2hhMjU2"
    "IiwgaGVhZGVycz0iaG9zdCBkYXRlIHJlcXVlc3QtbGluZSIsIHNpZ25hdHVyZT0iejVnSGR1M3B4VlY0QURNeWs0"
    "Njd3T1dEUTlxNkJRelIzbmZNVGpjL0RhUT0i"
)
OFFICIAL_URL = (
    f"wss://spark-api.xf-yun.com/v1.1/chat?authorization={OFFICIAL_AUTHORIZATION}"
    "&date=Fri%2C+05+May+2023+10%3A43%3A39+GMT&host=spark-api.xf-yun.com"
)
V35_AUTHORIZATION = (
    "YXBpX2tleT0iYWRkZDIyNzJiNmQ4YjdjOGFiZGQ3OTUzMTQyMGNhM2IiLCBhbGdvcml0aG09ImhtYWMtc2hhMjU2"
    "IiwgaGVhZGVycz0iaG9zdCBkYXRlIHJlcXVlc3QtbGluZSIsIHNpZ25hdHVyZT0iOXM1Z0FCcFFJSCs5d2lSMGRt"
    "eGhsVlkzQ3F3MzRTRmltMTJUbVhTd1ZLYz0i"
)


def clock() -> float:
    return TIMESTAMP


# ------------------------------------------------------------------------ official vector


def test_official_raw_hmac_bytes() -> None:
    origin = auth.signature_origin(HOST, DATE, "/v1.1/chat")
    assert origin == f"host: {HOST}\ndate: {DATE}\nGET /v1.1/chat HTTP/1.1"
    digest = hmac.new(API_SECRET.encode(), origin.encode(), hashlib.sha256).digest()
    assert digest[:12] == bytes.fromhex("cf980776ede9c55578003332")


def test_official_signature() -> None:
    sig = auth.signature(API_SECRET, HOST, DATE, "/v1.1/chat")
    assert sig == OFFICIAL_SIGNATURE
    assert len(sig) == 44


def test_official_authorization() -> None:
    assert auth.authorization(API_KEY, OFFICIAL_SIGNATURE) == OFFICIAL_AUTHORIZATION
    assert base64.b64decode(OFFICIAL_AUTHORIZATION).decode() == (
        f'api_key="{API_KEY}", algorithm="hmac-sha256", headers="host date request-line", '
        f'signature="{OFFICIAL_SIGNATURE}"'
    )


def test_official_final_url() -> None:
    url = auth.sign_url(f"wss://{HOST}/v1.1/chat", API_KEY, API_SECRET, clock=clock)
    assert url == OFFICIAL_URL


def test_rfc1123_date() -> None:
    assert auth.rfc1123_date(TIMESTAMP) == DATE
    assert auth.rfc1123_date(TIMESTAMP, suffix="UTC") == DATE_UTC


# --------------------------------------------------------------------------- extra vectors


@pytest.mark.parametrize(
    ("date", "host", "path", "expected"),
    [
        (DATE, HOST, "/v1.1/chat", "z5gHdu3pxVV4ADMyk467wOWDQ9q6BQzR3nfMTjc/DaQ="),
        (DATE, HOST, "/v3.1/chat", "uW7tr6uABuQUxdQwwtoYNY2C7HDEB2/VqQ3CjYmgMYg="),
        (DATE, HOST, "/v3.5/chat", "9s5gABpQIH+9wiR0dmxhlVY3Cqw34SFim12TmXSwVKc="),
        (DATE, HOST, "/v4.0/chat", "XruyxBmGpK48Gv2TcB2xHzrKYcdGIm5uf6XRNt8N0Dk="),
        (DATE, HOST, "/chat/max-32k", "sq19AjYt+EC5SQWDhkY6/YXpGBPaMo7NWibDHMGfLFY="),
        (DATE, HOST, "/chat/pro-128k", "x1eC0bv4yoPwfD1YPzbkUaTTtBOnnp34tFITzC2Jqcc="),
        (DATE_UTC, HOST, "/v1.1/chat", "XFPLi3N9MbBzRXlAuXffdQKVD31bvvxEOl2kNb0G4Go="),
        (DATE_UTC, HOST, "/v3.5/chat", "r5ztLMj5HBjbgUtfuuz/iGJkODDK8B3gEHO6URkQbug="),
        (DATE, "127.0.0.1:8765", "/v3.5/chat", "E98OeOcUjxyVtZycdts2XtYO7P6M78cjI6QiB8SGL08="),
    ],
)
def test_extra_vectors(date: str, host: str, path: str, expected: str) -> None:
    assert auth.signature(API_SECRET, host, date, path) == expected


@pytest.mark.parametrize(
    ("suffix", "host", "path", "expected"),
    [
        ("GMT", HOST, "/chat/max-32k", "sq19AjYt+EC5SQWDhkY6/YXpGBPaMo7NWibDHMGfLFY="),
        ("UTC", HOST, "/v1.1/chat", "XFPLi3N9MbBzRXlAuXffdQKVD31bvvxEOl2kNb0G4Go="),
        ("UTC", HOST, "/v3.5/chat", "r5ztLMj5HBjbgUtfuuz/iGJkODDK8B3gEHO6URkQbug="),
        ("GMT", "127.0.0.1:8765", "/v3.5/chat", "E98OeOcUjxyVtZycdts2XtYO7P6M78cjI6QiB8SGL08="),
    ],
)
def test_extra_vectors_through_sign_url(suffix: str, host: str, path: str, expected: str) -> None:
    url = auth.sign_url(f"wss://{host}{path}", API_KEY, API_SECRET, clock=clock, date_suffix=suffix)
    query = parse_qs(urlsplit(url).query, strict_parsing=True)
    assert query["date"] == [f"Fri, 05 May 2023 10:43:39 {suffix}"]
    assert query["host"] == [host]
    assert query["authorization"] == [auth.authorization(API_KEY, expected)]


def test_post_variant() -> None:
    sig = auth.signature(API_SECRET, HOST, DATE, "/v1.1/chat", method="POST")
    assert sig == "SFd0y1XlQwsvdK2a0Xyo3wKmfsUovlavQOFPYiWanfw="


def test_v35_authorization() -> None:
    sig = auth.signature(API_SECRET, HOST, DATE, "/v3.5/chat")
    assert auth.authorization(API_KEY, sig) == V35_AUTHORIZATION


# ------------------------------------------------------------------------------- sign_url


def test_sign_url_keeps_the_port_in_host_and_signs_it() -> None:
    url = auth.sign_url("ws://127.0.0.1:8765/v3.5/chat", API_KEY, API_SECRET, clock=clock)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("ws", "127.0.0.1:8765", "/v3.5/chat")
    assert "host=127.0.0.1%3A8765" in parts.query
    query = parse_qs(parts.query)
    expected = auth.authorization(API_KEY, "E98OeOcUjxyVtZycdts2XtYO7P6M78cjI6QiB8SGL08=")
    assert query["authorization"] == [expected]


def test_sign_url_form_encodes_the_query() -> None:
    # api_key "abc" makes the base64 authorization end in "==" padding.
    url = auth.sign_url(f"wss://{HOST}/v3.5/chat", "abc", API_SECRET, clock=clock)
    query = urlsplit(url).query
    assert [p.split("=", 1)[0] for p in query.split("&")] == ["authorization", "date", "host"]
    assert "&date=Fri%2C+05+May+2023+10%3A43%3A39+GMT&" in query
    authorization = query.split("&")[0].removeprefix("authorization=")
    assert authorization.endswith("%3D%3D")
    assert "=" not in authorization
    sig = auth.signature(API_SECRET, HOST, DATE, "/v3.5/chat")
    assert parse_qs(query)["authorization"] == [auth.authorization("abc", sig)]


def test_sign_url_replaces_an_existing_query_and_drops_a_fragment() -> None:
    url = auth.sign_url(
        f"wss://{HOST}/v1.1/chat?authorization=stale&date=old&host=evil&x=1#frag",
        API_KEY,
        API_SECRET,
        clock=clock,
    )
    assert url == OFFICIAL_URL


def test_sign_url_uses_the_injected_clock() -> None:
    later = auth.sign_url(
        f"wss://{HOST}/v1.1/chat", API_KEY, API_SECRET, clock=lambda: TIMESTAMP + 61
    )
    query = parse_qs(urlsplit(later).query)
    assert query["date"] == ["Fri, 05 May 2023 10:44:40 GMT"]
    sig = auth.signature(API_SECRET, HOST, "Fri, 05 May 2023 10:44:40 GMT", "/v1.1/chat")
    assert query["authorization"] == [auth.authorization(API_KEY, sig)]
    assert later != OFFICIAL_URL


def test_sign_url_without_path_signs_root() -> None:
    url = auth.sign_url(f"wss://{HOST}", API_KEY, API_SECRET, clock=clock)
    assert urlsplit(url).path == "/"
    sig = auth.signature(API_SECRET, HOST, DATE, "/")
    assert parse_qs(urlsplit(url).query)["authorization"] == [auth.authorization(API_KEY, sig)]


@pytest.mark.parametrize(
    "url",
    [
        "http://spark-api.xf-yun.com/v1.1/chat",
        "https://spark-api.xf-yun.com/v1.1/chat",
        "spark-api.xf-yun.com/v1.1/chat",
        "wss:///v1.1/chat",
        "wss://:8765/v1.1/chat",
        "ws://",
    ],
)
def test_sign_url_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"ws://|host"):
        auth.sign_url(url, API_KEY, API_SECRET, clock=clock)


def test_url_signer_signs_once_per_second_and_again_the_next() -> None:
    from asgi_spark.secrets import Secret

    now = [1_700_000_000.1]
    signer = auth.UrlSigner(
        "wss://spark-api.xf-yun.com/v3.5/chat",
        Secret("key"),
        Secret("secret"),
        clock=lambda: now[0],
    )
    first = signer()
    assert first == auth.sign_url(
        "wss://spark-api.xf-yun.com/v3.5/chat", "key", "secret", clock=lambda: 1_700_000_000
    )
    now[0] = 1_700_000_000.9  # the same second: the same URL, not signed again
    assert signer() is first
    now[0] = 1_700_000_001.0
    later = signer()
    assert later != first
    assert parse_qs(urlsplit(later).query)["date"] == ["Tue, 14 Nov 2023 22:13:21 GMT"]
