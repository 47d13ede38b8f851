"""Reading a request body: JSON only, bounded in size and in time, decoded with clear errors.

* :func:`require_json`: a POST body must be declared ``Content-Type: application/json`` (any
  parameters, any case): else 415 ``unsupported_media_type``.  This is also what stops a
  browser page on another origin: the content types it may send without a CORS preflight
  (``text/plain``, form encodings) are refused before anything runs.
* :func:`read_body`: at most :data:`MAX_BODY_BYTES` (else 413 ``request_too_large``), and the
  whole body within ``body_timeout`` seconds of the request reaching the app (else 408
  ``request_timeout``, with ``Connection: close`` so the server drops the slow client).  A
  client that goes away raises :class:`ClientGone`.
* :func:`decode_chat_request`: the body as a ``ChatCompletionRequest``; a bad one is a 400
  naming the field.
"""

from __future__ import annotations

import asyncio
from typing import Final, TypeVar

from starlette.datastructures import Headers
from starlette.types import Receive

from .decoding import Decoder, JsonDecodeFailure, decode
from .errors import InvalidRequestError, RequestTimeoutError, UnsupportedMediaTypeError
from .openai_types import ChatCompletionRequest, request_decoder

T = TypeVar("T")

#: Largest accepted request body.  Spark's largest context (128K tokens) fits easily.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024
JSON: Final = "application/json"


class ClientGone(Exception):
    """The client disconnected before the request was read."""


def require_json(headers: Headers) -> None:
    """415 unless the body is declared ``application/json``."""
    declared = headers.get("content-type")
    media = (declared or "").partition(";")[0].strip().lower()
    if media != JSON:
        got = f"got {declared[:100]!r}" if declared else "no Content-Type was sent"
        raise UnsupportedMediaTypeError(
            f"the request body must be JSON: send Content-Type: {JSON} ({got})"
        )


_timeout = getattr(asyncio, "timeout", None)


async def read_body(receive: Receive, *, limit: int = MAX_BODY_BYTES, timeout: float) -> bytes:
    """The whole body: at most ``limit`` bytes, within ``timeout`` seconds."""
    try:
        if _timeout is not None:  # Python 3.11+: a timer, not a task per request
            async with _timeout(timeout):
                return await _read(receive, limit)
        return await asyncio.wait_for(_read(receive, limit), timeout)  # pragma: no cover
    except asyncio.TimeoutError:  # TimeoutError itself from Python 3.11 on
        raise RequestTimeoutError(
            f"the request body did not arrive within {timeout:g} s (body_timeout)",
        ) from None


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise InvalidRequestError(
                f"the request body is larger than {limit} bytes",
                code="request_too_large",
                status=413,
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def decode_chat_request(body: bytes) -> ChatCompletionRequest:
    """The body as a chat completion request, or a 400 naming what is wrong."""
    return decode_body(body, request_decoder, "a JSON chat completion request")


def decode_body(body: bytes, decoder: Decoder[T], what: str) -> T:
    """The body decoded by ``decoder``, or a 400 naming what is wrong (``what``: what an empty
    body should have been)."""
    if not body.strip():
        raise InvalidRequestError(f"the request body is empty; send {what}")
    try:
        return decode(decoder, body)
    except JsonDecodeFailure as failure:
        if failure.kind != "schema":
            raise InvalidRequestError(failure.describe("the request body")) from None
        where = f" (at '{failure.path}')" if failure.path else ""
        raise InvalidRequestError(
            f"invalid request body: {failure.detail}{where}", param=failure.path
        ) from None


__all__ = [
    "JSON",
    "MAX_BODY_BYTES",
    "ClientGone",
    "decode_body",
    "decode_chat_request",
    "read_body",
    "require_json",
]
