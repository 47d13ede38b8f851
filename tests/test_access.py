"""Client keys (asgi_spark/access.py): reading the Authorization header, comparing in constant
time, and which models a key may see and use.  Unit tests; the routes are tested end to end in
tests/e2e/test_security.py."""

from __future__ import annotations

import contextlib
import hmac

import pytest
from starlette.datastructures import Headers

from asgi_spark import access
from asgi_spark.config import ClientKey
from asgi_spark.errors import AuthenticationError, ModelNotAllowedError, ModelNotFoundError
from asgi_spark.secrets import Secret

KEYS = (
    ClientKey.of("open", Secret("sk-open-0123456789")),
    ClientKey.of("ci", Secret("sk-ci-0123456789"), ["m"]),
)
SERVED = ("m", "n", "o")


def headers(**values: str) -> Headers:
    return Headers(headers={name.replace("_", "-"): value for name, value in values.items()})


def test_no_keys_configured_means_no_check() -> None:
    assert access.identify(None, headers()) is None
    assert access.identify(None, headers(authorization="Bearer whatever")) is None


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("Bearer sk-open-0123456789", "open"),
        ("bearer sk-ci-0123456789", "ci"),
        ("BEARER   sk-ci-0123456789  ", "ci"),
    ],
)
def test_a_configured_key_is_recognised(value: str, name: str) -> None:
    client = access.identify(KEYS, headers(authorization=value))
    assert client is not None and client.name == name


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ({}, access.MISSING),
        ({"authorization": "sk-open-0123456789"}, access.MALFORMED),
        ({"authorization": "Basic c2stb3Blbg=="}, access.MALFORMED),
        ({"authorization": "Bearer"}, access.MALFORMED),
        ({"authorization": "Bearer  "}, access.MALFORMED),
        ({"authorization": "Bearer sk-open-012345678"}, access.INCORRECT),  # a prefix
        ({"authorization": "Bearer sk-open-01234567890"}, access.INCORRECT),  # one more
        ({"authorization": "Bearer SK-OPEN-0123456789"}, access.INCORRECT),
        ({"x_api_key": "sk-open-0123456789"}, access.MISSING),
    ],
)
def test_a_missing_malformed_or_unknown_key_is_401(sent: dict[str, str], message: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        access.identify(KEYS, headers(**sent))
    error = info.value
    assert (error.status, error.type, error.code, error.message) == (
        401,
        "invalid_request_error",
        "invalid_api_key",
        message,
    )
    assert "sk-" not in error.message  # the key sent is never echoed


def test_the_messages() -> None:
    assert access.MISSING == (
        "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
        "(Authorization: Bearer YOUR_KEY)."
    )
    assert access.MALFORMED == (
        "The Authorization header must use Bearer auth (Authorization: Bearer YOUR_KEY)."
    )
    assert access.INCORRECT == (
        "Incorrect API key provided. Ask the gateway's operator for a valid key."
    )


@pytest.mark.parametrize("sent", ["sk-open-0123456789", "sk-ci-0123456789", "sk-nope", "s"])
def test_every_key_is_compared_in_constant_time_whatever_matches(
    monkeypatch: pytest.MonkeyPatch, sent: str
) -> None:
    compared: list[tuple[int, int]] = []
    original = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return original(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", compare)
    with contextlib.suppress(AuthenticationError):
        access.identify(KEYS, headers(authorization=f"Bearer {sent}"))
    # All keys, every time, and always digests of one length: nothing depends on the key sent.
    assert compared == [(32, 32)] * len(KEYS)


def test_what_a_key_sees() -> None:
    open_key, ci = KEYS
    assert access.visible(None, SERVED) == ["m", "n", "o"]
    assert access.visible(open_key, SERVED) == ["m", "n", "o"]
    assert access.visible(ci, SERVED) == ["m"]


def test_admit() -> None:
    open_key, ci = KEYS
    for client in (None, open_key):
        access.admit(client, "anything", SERVED, hide=False)  # the router says 404 itself
    access.admit(ci, "m", SERVED, hide=False)
    with pytest.raises(ModelNotAllowedError) as refused:
        access.admit(ci, "n", SERVED, hide=False)
    assert (refused.value.status, refused.value.code, refused.value.param) == (
        403,
        "model_not_allowed",
        "model",
    )
    assert refused.value.message == "This API key may not use the model 'n' (it may use: m)."
    with pytest.raises(ModelNotAllowedError):
        access.admit(ci, "unknown", SERVED, hide=False)  # no hint that it does not exist
    with pytest.raises(ModelNotFoundError) as hidden:
        access.admit(ci, "n", SERVED, hide=True)
    assert hidden.value.message == ("The model 'n' does not exist on this gateway (available: m)")


def test_a_listed_model_that_is_not_served_is_unknown_and_lists_only_the_keys_models() -> None:
    ci = ClientKey.of("ci", Secret("sk-ci-0123456789"), ["m", "off"])
    with pytest.raises(ModelNotFoundError) as info:
        access.admit(ci, "off", SERVED, hide=False)
    assert info.value.message == "The model 'off' does not exist on this gateway (available: m)"
