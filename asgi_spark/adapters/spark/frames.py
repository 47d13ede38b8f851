"""Spark WebSocket wire types (spec sections 2 and 3) as msgspec Structs.

Request frames are built by :mod:`.request` and encoded with :func:`encode_request`.  Response
frames are decoded with :func:`decode_frame`, which never raises anything but
:class:`FrameError`: a malformed or unexpected frame names the path of what was wrong.
Unknown fields from upstream are tolerated; missing required ones are errors.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ...decoding import JsonDecodeFailure, decode
from ...errors import UpstreamProtocolError

# --------------------------------------------------------------------------- request frame


class RequestHeader(msgspec.Struct, omit_defaults=True):
    app_id: str
    uid: str | None = None
    patch_id: list[str] | None = None


class ChatParameter(msgspec.Struct, omit_defaults=True):
    domain: str
    temperature: float | None = None
    max_tokens: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    chat_id: str | None = None
    tools: list[dict[str, Any]] | None = None


class Parameter(msgspec.Struct):
    chat: ChatParameter


class Message(msgspec.Struct, omit_defaults=True):
    role: str
    content: str
    content_type: str | None = None


class MessageText(msgspec.Struct):
    text: list[Message]


class FunctionDef(msgspec.Struct):
    name: str
    description: str
    parameters: dict[str, Any]


class Functions(msgspec.Struct):
    text: list[FunctionDef]


class RequestPayload(msgspec.Struct, omit_defaults=True):
    message: MessageText
    functions: Functions | None = None


class RequestFrame(msgspec.Struct):
    header: RequestHeader
    parameter: Parameter
    payload: RequestPayload


# -------------------------------------------------------------------------- response frames

STATUS_FIRST: Final = 0
STATUS_CONTINUE: Final = 1
STATUS_LAST: Final = 2


class ResponseHeader(msgspec.Struct):
    code: int
    message: str = ""
    sid: str = ""
    status: int = STATUS_CONTINUE


class FunctionCall(msgspec.Struct):
    name: str
    arguments: str = ""


class TextItem(msgspec.Struct, omit_defaults=True):
    content: str = ""
    role: str = "assistant"
    index: int = 0
    reasoning_content: str | None = None
    content_type: str | None = None
    function_call: FunctionCall | None = None


class Choices(msgspec.Struct):
    status: int
    seq: int
    text: list[TextItem]


class UsageText(msgspec.Struct):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    question_tokens: int = 0


class Usage(msgspec.Struct):
    text: UsageText


class Plugins(msgspec.Struct):
    text: list[dict[str, Any]] = []


class ResponsePayload(msgspec.Struct, omit_defaults=True):
    choices: Choices | None = None
    usage: Usage | None = None
    plugins: Plugins | None = None


class ResponseFrame(msgspec.Struct, omit_defaults=True):
    header: ResponseHeader
    payload: ResponsePayload | None = None

    @property
    def is_error(self) -> bool:
        return self.header.code != 0


# ------------------------------------------------------------------------------- codecs


class FrameError(UpstreamProtocolError):
    """An upstream frame that is not valid JSON or does not have the Spark shape."""


_encoder: Final = msgspec.json.Encoder()
_response_decoder: Final = msgspec.json.Decoder(ResponseFrame)


def encode_request(frame: RequestFrame) -> bytes:
    return _encoder.encode(frame)


def encode_response(frame: ResponseFrame) -> bytes:
    return _encoder.encode(frame)


def decode_frame(data: str | bytes) -> ResponseFrame:
    """Decode one upstream text frame, or raise :class:`FrameError` naming what was wrong."""
    try:
        frame = decode(_response_decoder, data)
    except JsonDecodeFailure as failure:
        if failure.kind != "schema":
            raise FrameError(failure.describe("Spark frame")) from None
        where = f" - at `$.{failure.path}`" if failure.path else ""
        raise FrameError(f"malformed Spark frame: {failure.detail}{where}") from None
    choices = frame.payload.choices if frame.payload else None
    if choices is not None and not choices.text and choices.status != STATUS_LAST:
        raise FrameError("malformed Spark frame: empty `$.payload.choices.text`")
    return frame
