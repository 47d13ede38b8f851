"""Decode and check one request frame like the real service (spec 2 and 5.2).

Works on the decoded JSON value, not on the gateway's Structs, so that the simulator judges what a
client really sent.  Every failure is a :class:`.SparkError` with Spark's code:

* 10160 the frame is not JSON;
* 10313 ``header.app_id`` empty, or not the app of the API key that signed the handshake;
* 10003 ``parameter.chat.domain`` is not the domain of the URL path (``invalid model domain``);
* 10004 ``SchemaCheckError`` naming the ``$.path``: a missing or mistyped field, ``uid`` longer
  than 32, ``temperature`` outside (0, 1], ``max_tokens`` outside the version's range, ``top_k``
  outside [1, 6], a role other than system/user/assistant, an empty ``content``, a ``system``
  message that is not first, ``functions`` on a version without function calling;
* 10907 the prompt (all messages) has more tokens than the version's context.

Checks run in that order (gateway first, then schema, then token budget), first failure wins.
Unknown fields are ignored, as the real service does with legacy ones (``auditing``, ...).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from ..adapters.spark.versions import SparkVersion
from ..decoding import JsonDecodeFailure, decode
from .errors import SparkError
from .tokens import count_tokens

MAX_UID_LENGTH: Final = 32
TOP_K_RANGE: Final = (1, 6)
ROLES: Final = ("system", "user", "assistant")
#: What one image counts for in the prompt (the real service bills images by size).
IMAGE_TOKENS: Final = 256

_decoder: Final = msgspec.json.Decoder()


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    content_type: str = "text"

    @property
    def tokens(self) -> int:
        return IMAGE_TOKENS if self.content_type == "image" else count_tokens(self.content)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True)
class ChatRequest:
    """A request that passed every check, with its token counts."""

    version: SparkVersion
    domain: str
    messages: tuple[Message, ...]
    functions: tuple[FunctionSpec, ...]
    max_tokens: int
    prompt_tokens: int
    question_tokens: int

    @property
    def question(self) -> str:
        """The content of the last ``user`` message (``""`` when there is none)."""
        index = self._question_index
        return self.messages[index].content if index is not None else ""

    @property
    def turn_before_question(self) -> Message | None:
        """The message just before the last ``user`` message, if any."""
        index = self._question_index
        return self.messages[index - 1] if index else None

    @property
    def _question_index(self) -> int | None:
        return next(
            (
                i
                for i in range(len(self.messages) - 1, -1, -1)
                if self.messages[i].role == "user" and self.messages[i].content_type == "text"
            ),
            None,
        )


def decode_request(data: str | bytes) -> Any:
    """The JSON value of a request frame; :class:`.SparkError` 10160 if it is not JSON.

    Binary frames are accepted like text frames when they hold UTF-8 JSON.
    """
    try:
        return decode(_decoder, data)
    except JsonDecodeFailure as failure:
        raise SparkError.for_code(10160, f"request data is not valid json: {failure}") from None


def validate_request(frame: Any, *, version: SparkVersion, app_id: str) -> ChatRequest:
    """Check a decoded frame for the endpoint ``version`` and the signing app ``app_id``."""
    root = _object(frame, "$")
    header = _object(root.get("header"), "$.header")
    sent_app_id = header.get("app_id")
    if sent_app_id is None or sent_app_id == "":
        raise SparkError(10313, "InvalidAppIdError", "app_id cannot be empty")
    _string(sent_app_id, "$.header.app_id")
    if sent_app_id != app_id:
        raise SparkError(10313, "InvalidAppIdError", "app_id and api_key does not match")
    uid = header.get("uid")
    if uid is not None and len(_string(uid, "$.header.uid")) > MAX_UID_LENGTH:
        raise SparkError.schema(
            f"'$.header.uid' length must be less or equal than {MAX_UID_LENGTH};"
        )
    patch_id = header.get("patch_id")
    if patch_id is not None:
        for index, item in enumerate(_array(patch_id, "$.header.patch_id")):
            _string(item, f"$.header.patch_id[{index}]")

    chat = _object(_object(root.get("parameter"), "$.parameter").get("chat"), "$.parameter.chat")
    domain = _string(chat.get("domain"), "$.parameter.chat.domain")
    if not version.accepts_domain(domain):
        raise SparkError(10003, "ClientMsgError", "invalid model domain")
    temperature = chat.get("temperature")
    if temperature is not None:
        _number(temperature, "$.parameter.chat.temperature", low=0.0, high=1.0, open_low=True)
    max_tokens = chat.get("max_tokens")
    if max_tokens is None:
        max_tokens = version.default_max_tokens
    else:
        low, high = version.max_tokens
        _integer(max_tokens, "$.parameter.chat.max_tokens", low=low, high=high)
    top_k = chat.get("top_k")
    if top_k is not None:
        _integer(top_k, "$.parameter.chat.top_k", low=TOP_K_RANGE[0], high=TOP_K_RANGE[1])

    payload = _object(root.get("payload"), "$.payload")
    message = _object(payload.get("message"), "$.payload.message")
    items = _array(message.get("text"), "$.payload.message.text")
    if not items:
        raise SparkError.schema("'$.payload.message.text' must have at least 1 item;")
    messages = tuple(_message(item, index, version) for index, item in enumerate(items))
    functions = _functions(payload.get("functions"), version)

    prompt_tokens = sum(m.tokens for m in messages)
    if prompt_tokens > version.context_tokens:
        raise SparkError(
            10907,
            "TokenLimitError",
            f"token数量超过上限。对话历史+问题的字数太多，需要精简输入 "
            f"(prompt tokens {prompt_tokens} > {version.context_tokens})",
        )
    return ChatRequest(
        version=version,
        domain=domain,
        messages=messages,
        functions=functions,
        max_tokens=max_tokens,
        prompt_tokens=prompt_tokens,
        question_tokens=messages[-1].tokens,
    )


def _message(item: Any, index: int, version: SparkVersion) -> Message:
    path = f"$.payload.message.text[{index}]"
    entry = _object(item, path)
    role = _string(entry.get("role"), f"{path}.role")
    if role not in ROLES:
        raise SparkError.schema(f"'{path}.role' must be one of [{', '.join(ROLES)}];")
    if role == "system" and index != 0:
        raise SparkError.schema(f"'{path}.role' system message must be the first one;")
    content = _string(entry.get("content"), f"{path}.content")
    if not content:
        raise SparkError.schema(f"'{path}.content' length must be greater or equal than 1;")
    content_type = entry.get("content_type", "text")
    if content_type not in ("text", "image"):
        raise SparkError.schema(f"'{path}.content_type' must be one of [text, image];")
    if content_type == "image":
        if not version.images:
            raise SparkError.schema(f"'{path}.content_type' image is not supported by this domain;")
        try:
            base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise SparkError(
                10161, "Base64DecodeError", f"'{path}.content' base64 decode failed"
            ) from None
        return Message(role, content, content_type)
    return Message(role, content)


def _functions(value: Any, version: SparkVersion) -> tuple[FunctionSpec, ...]:
    if value is None:
        return ()
    if not version.functions:
        raise SparkError.schema(
            f"'$.payload.functions' is not supported by domain {version.domain};"
        )
    items = _array(_object(value, "$.payload.functions").get("text"), "$.payload.functions.text")
    if not items:
        raise SparkError.schema("'$.payload.functions.text' must have at least 1 item;")
    specs = []
    for index, item in enumerate(items):
        path = f"$.payload.functions.text[{index}]"
        entry = _object(item, path)
        name = _string(entry.get("name"), f"{path}.name")
        if not name:
            raise SparkError.schema(f"'{path}.name' length must be greater or equal than 1;")
        parameters = entry.get("parameters")
        specs.append(
            FunctionSpec(
                name, {} if parameters is None else _object(parameters, f"{path}.parameters")
            )
        )
    return tuple(specs)


def _object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        raise SparkError.schema(f"'{path}' is required;")
    if not isinstance(value, dict):
        raise SparkError.schema(f"'{path}' must be an object;")
    return value


def _array(value: Any, path: str) -> list[Any]:
    if value is None:
        raise SparkError.schema(f"'{path}' is required;")
    if not isinstance(value, list):
        raise SparkError.schema(f"'{path}' must be an array;")
    return value


def _string(value: Any, path: str) -> str:
    if value is None:
        raise SparkError.schema(f"'{path}' is required;")
    if not isinstance(value, str):
        raise SparkError.schema(f"'{path}' must be a string;")
    return value


def _integer(value: Any, path: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SparkError.schema(f"'{path}' must be an integer;")
    _range(value, path, low=low, high=high, open_low=False)
    return value


def _number(value: Any, path: str, *, low: float, high: float, open_low: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SparkError.schema(f"'{path}' must be a number;")
    _range(value, path, low=low, high=high, open_low=open_low)
    return float(value)


def _range(value: float, path: str, *, low: float, high: float, open_low: bool) -> None:
    if open_low and value <= low:
        raise SparkError.schema(f"'{path}' must be greater than {low:g};")
    if not open_low and value < low:
        raise SparkError.schema(f"'{path}' must be greater or equal than {low:g};")
    if value > high:
        raise SparkError.schema(f"'{path}' must be less or equal than {high:g};")
