"""Secrets as a type: never shown by repr/str/format, only by reveal()."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from asgi_spark.adapters.spark.auth import sign_url
from asgi_spark.secrets import MASK, Secret, redact, redact_upstream

LONG = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi"
SHORT = "4f1a2b3c"


@pytest.mark.parametrize("value", [LONG, SHORT, "x"])
def test_repr_and_str_are_masked(value: str) -> None:
    secret = Secret(value)
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"k": secret}),
    ):
        assert value not in shown
        assert MASK in shown


def test_nothing_of_the_value_is_shown() -> None:
    # not even a suffix: the mask is the same for every set value
    assert str(Secret(LONG)) == str(Secret(SHORT)) == MASK
    assert repr(Secret(LONG)) == f"Secret('{MASK}')"
    assert Secret(LONG).masked() == MASK


def test_an_empty_secret_shows_no_value_either() -> None:
    shown = str(Secret(""))
    assert shown and shown == Secret("").masked()
    assert repr(Secret("")) == f"Secret({shown!r})"


def test_reveal() -> None:
    assert Secret(LONG).reveal() == LONG


def test_equality_hash_and_truth() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert Secret("a")
    assert not Secret("")


def test_no_instance_dict_to_leak_through() -> None:
    secret = Secret(LONG)
    assert not hasattr(secret, "__dict__")
    with pytest.raises(AttributeError):
        secret.other = 1  # type: ignore[attr-defined]


def test_redact() -> None:
    text = f"app_id {SHORT} and secret {LONG} and again {SHORT}."
    assert redact(text, Secret(SHORT), Secret(LONG)) == (
        f"app_id {MASK} and secret {MASK} and again {MASK}."
    )
    assert redact(text, SHORT) == f"app_id {MASK} and secret {LONG} and again {MASK}."


def test_redact_ignores_empty_and_none() -> None:
    assert redact("abc", None, "", Secret("")) == "abc"
    assert redact("abc") == "abc"


# --------------------------------------------------------------------------- upstream words

API_KEY = "key-0123456789abcdef"
API_SECRET = "secret-ABCDEFGHIJKLMNOP"
SIGNED = sign_url("wss://spark-api.xf-yun.com/v3.5/chat", API_KEY, API_SECRET, clock=lambda: 0)
TARGET = SIGNED.removeprefix("wss://spark-api.xf-yun.com")  # /v3.5/chat?authorization=...
QUERY = dict(pair.split("=", 1) for pair in TARGET.split("?", 1)[1].split("&"))
REDACTED_TARGET = f"/v3.5/chat?authorization={MASK}&date={MASK}&host={MASK}"


def assert_no_credential(text: str) -> None:
    for value in (QUERY["authorization"], QUERY["date"], API_KEY, API_SECRET):
        assert value not in text
        assert quote(value, safe="") not in text  # percent-encoded once
        assert quote(quote(value, safe=""), safe="") not in text  # and twice
    assert AUTHORIZATION not in text  # the value decoded from the query, base64


AUTHORIZATION = QUERY["authorization"].replace("%3D", "=").replace("%2B", "+").replace("%2F", "/")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"GET {TARGET} HTTP/1.1", f"GET {REDACTED_TARGET} HTTP/1.1"),
        (f"<pre>request {SIGNED} refused</pre>", None),
        (f"url={quote(SIGNED, safe='')}", None),  # a URL quoted inside another one's query
        (f"url={quote(quote(SIGNED, safe=''), safe='')}", None),  # encoded twice
        (
            '{"target": "' + TARGET.replace("&", "\\u0026").replace("/", "\\/") + '"}',
            None,
        ),  # JSON-escaped: \u0026 and \/
        (TARGET.split("?", 1)[1], f"authorization={MASK}&date={MASK}&host={MASK}"),
    ],
    ids=["request-line", "html", "encoded", "encoded-twice", "json-escaped", "bare"],
)
def test_redact_upstream_removes_a_signed_query(text: str, expected: str | None) -> None:
    shown = redact_upstream(text)
    assert_no_credential(shown)
    assert "authorization" in shown.lower() and MASK in shown  # says what was there
    if expected is not None:
        assert shown == expected


def test_redact_upstream_removes_the_decoded_authorization() -> None:
    decoded = base64.b64decode(AUTHORIZATION).decode()
    assert f'api_key="{API_KEY}"' in decoded
    shown = redact_upstream(f"cannot verify {decoded}")
    assert API_KEY not in shown
    signature = decoded.rsplit('signature="', 1)[1].rstrip('"')
    assert signature not in shown
    assert shown == (
        f'cannot verify api_key="{MASK}", algorithm="hmac-sha256", '
        f'headers="host date request-line", signature="{MASK}"'
    )
    hmac_form = 'hmac username="k", algorithm="hmac-sha256", signature="s"'
    assert redact_upstream(hmac_form) == (
        f'hmac username="{MASK}", algorithm="hmac-sha256", signature="{MASK}"'
    )


def test_redact_upstream_removes_a_lone_base64_authorization() -> None:
    shown = redact_upstream(f"bad credential {AUTHORIZATION} (401)")
    assert shown == f"bad credential {MASK} (401)"


def test_redact_upstream_removes_the_given_secrets_too() -> None:
    assert redact_upstream(f"no app {SHORT}", Secret(SHORT)) == f"no app {MASK}"


@pytest.mark.parametrize(
    "text",
    [
        "update=1 and x-date=2 stay",
        "Spark 10003: invalid model domain",
        "HMAC signature cannot be verified, a valid date or x-date header is required",
        "",
    ],
)
def test_redact_upstream_leaves_other_words_alone(text: str) -> None:
    assert redact_upstream(text) == text
