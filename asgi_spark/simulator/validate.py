"""Decode and check one request frame like the real service (spec 2 and 5.2).

Works on the decoded JSON value, not on the gateway's Structs, so that the simulator judges what a
client really sent.  Every failure is a :class:`.SparkError` with Spark's code:

* 10160 the frame is not JSON;
* 10313 ``header.app_id`` empty, or not the app of the API key that signed the handshake;
* 10003 ``parameter.chat.domain`` is not the domain of the URL path (``invalid model domain``);
* 10004 ``SchemaCheckError`` naming the ``$.path`` (:mod:`.schema`): a missing or mistyped
  field (an explicit ``null`` is mistyped), ``uid`` longer than 32, ``temperature`` outside
  (0, 1], ``max_tokens`` outside the version's range, ``top_k`` outside [1, 6], a ``tools`` item
  that is not a ``web_search`` tool or ``tools`` on a version without web search, the X1-only
  ``top_p``/``presence_penalty``/``frequency_penalty``/``thinking`` on another version, a role
  other than system/user/assistant, an empty ``content``, a ``system`` message that is not first
  or on a version without system messages, ``functions`` on a version without function calling,
  a function without a name or whose ``parameters`` is not a ``type: "object"`` schema;
* 10161 an image turn whose content is not base64;
* 10907 the prompt (all messages) has more tokens than the version's context.

Checks run in that order (gateway first, then schema, then token budget), first failure wins.
Unknown fields are ignored, as the real service does with legacy ones (``auditing``, ...).
Custom endpoints (``extra_endpoints``: fine-tuned models) allow every feature.
:mod:`.strictness` lists every rule, and what is left lenient on purpose.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from ..adapters.spark.versions import SparkVersion, versions
from ..decoding import JsonDecodeFailure, decode
from .errors import SparkError
from .schema import (
    MISSING,
    array,
    boolean,
    field,
    integer,
    number,
    obj,
    one_of,
    schema_error,
    string,
)
from .tokens import count_tokens

MAX_UID_LENGTH: Final = 32
TOP_K_RANGE: Final = (1, 6)
ROLES: Final = ("system", "user", "assistant")
CONTENT_TYPES: Final = ("text", "image")
SEARCH_MODES: Final = ("normal", "deep")
#: ``parameter.chat`` fields only the X1 reasoning version has (spec 2.3).
X1_FIELDS: Final = ("top_p", "presence_penalty", "frequency_penalty", "thinking")
THINKING_TYPES: Final = ("enabled", "disabled", "auto")
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
    #: Web search with ``show_ref_label``: the answer starts with a plugins frame (spec 3.4).
    search_references: bool = False

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

    Binary frames reach it only with the ``accept_binary`` fault (the server refuses them first).
    """
    try:
        return decode(_decoder, data)
    except JsonDecodeFailure as failure:
        raise SparkError.for_code(10160, f"request data is not valid json: {failure}") from None


def validate_request(frame: Any, *, version: SparkVersion, app_id: str) -> ChatRequest:
    """Check a decoded frame for the endpoint ``version`` and the signing app ``app_id``."""
    root = obj(frame, "$")
    header = obj(field(root, "header"), "$.header")
    _check_header(header, app_id)
    chat = obj(field(obj(field(root, "parameter"), "$.parameter"), "chat"), "$.parameter.chat")
    domain = string(field(chat, "domain"), "$.parameter.chat.domain")
    if not version.accepts_domain(domain):
        raise SparkError(10003, "ClientMsgError", "invalid model domain")
    max_tokens, references = _check_chat(chat, version)

    payload = obj(field(root, "payload"), "$.payload")
    message = obj(field(payload, "message"), "$.payload.message")
    items = array(field(message, "text"), "$.payload.message.text")
    if not items:
        raise schema_error("$.payload.message.text", "must have at least 1 item")
    messages = tuple(_message(item, index, version) for index, item in enumerate(items))
    functions = _functions(field(payload, "functions"), version)

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
        search_references=references,
    )


def is_custom(version: SparkVersion) -> bool:
    """``True`` for an extra endpoint (not a row of the version table): every feature allowed."""
    return version not in versions()


def _unsupported(path: str, version: SparkVersion) -> SparkError:
    return schema_error(path, f"is not supported by domain {version.domain}")


def _check_header(header: dict[str, Any], app_id: str) -> None:
    sent_app_id = header.get("app_id")  # absent or null: xfyun's webgate reads "" (spec 1.4)
    if sent_app_id is None or sent_app_id == "":
        raise SparkError(10313, "InvalidAppIdError", "app_id cannot be empty")
    string(sent_app_id, "$.header.app_id")
    if sent_app_id != app_id:
        raise SparkError(10313, "InvalidAppIdError", "app_id and api_key does not match")
    uid = field(header, "uid")
    if uid is not MISSING and len(string(uid, "$.header.uid")) > MAX_UID_LENGTH:
        raise schema_error("$.header.uid", f"length must be less or equal than {MAX_UID_LENGTH}")
    patch_id = field(header, "patch_id")
    if patch_id is not MISSING:
        for index, item in enumerate(array(patch_id, "$.header.patch_id")):
            string(item, f"$.header.patch_id[{index}]")


def _check_chat(chat: dict[str, Any], version: SparkVersion) -> tuple[int, bool]:
    """Check ``parameter.chat`` after its domain; return the ``max_tokens`` in effect and
    whether web-search references are asked for."""
    path = "$.parameter.chat"
    temperature = field(chat, "temperature")
    if temperature is not MISSING:
        number(temperature, f"{path}.temperature", low=0.0, high=1.0, open_low=True)
    sent_max_tokens = field(chat, "max_tokens")
    low, high = version.max_tokens
    max_tokens = (
        version.default_max_tokens
        if sent_max_tokens is MISSING
        else integer(sent_max_tokens, f"{path}.max_tokens", low=low, high=high)
    )
    top_k = field(chat, "top_k")
    if top_k is not MISSING:
        integer(top_k, f"{path}.top_k", low=TOP_K_RANGE[0], high=TOP_K_RANGE[1])
    chat_id = field(chat, "chat_id")
    if chat_id is not MISSING:
        string(chat_id, f"{path}.chat_id")
    tools = field(chat, "tools")
    references = _tools(tools, version) if tools is not MISSING else False
    for name in X1_FIELDS:
        value = field(chat, name)
        if value is MISSING:
            continue
        if not (version.reasoning or is_custom(version)):
            raise _unsupported(f"{path}.{name}", version)
        if name == "thinking":
            thinking = obj(value, f"{path}.thinking")
            one_of(field(thinking, "type"), f"{path}.thinking.type", THINKING_TYPES)
        else:
            number(value, f"{path}.{name}")
    return max_tokens, references


def _tools(value: Any, version: SparkVersion) -> bool:
    """``tools`` holds web search only (function calling is ``payload.functions``); whether a
    search with references shown is asked for."""
    path = "$.parameter.chat.tools"
    items = array(value, path)
    if not version.web_search and not is_custom(version):
        raise _unsupported(path, version)
    references = False
    for index, item in enumerate(items):
        at = f"{path}[{index}]"
        entry = obj(item, at)
        one_of(field(entry, "type"), f"{at}.type", ("web_search",))
        search = obj(field(entry, "web_search"), f"{at}.web_search")
        for flag in ("enable", "show_ref_label"):
            if (flag_value := field(search, flag)) is not MISSING:
                boolean(flag_value, f"{at}.web_search.{flag}")
        if (mode := field(search, "search_mode")) is not MISSING:
            one_of(mode, f"{at}.web_search.search_mode", SEARCH_MODES)
        if field(search, "enable") is True and field(search, "show_ref_label") is True:
            references = True
    return references


def _message(item: Any, index: int, version: SparkVersion) -> Message:
    path = f"$.payload.message.text[{index}]"
    entry = obj(item, path)
    role = one_of(field(entry, "role"), f"{path}.role", ROLES)
    if role == "system" and index != 0:
        raise schema_error(f"{path}.role", "system message must be the first one")
    if role == "system" and not version.system:
        raise schema_error(f"{path}.role", f"system is not supported by domain {version.domain}")
    content = string(field(entry, "content"), f"{path}.content")
    if not content:
        raise schema_error(f"{path}.content", "length must be greater or equal than 1")
    content_type = field(entry, "content_type")
    if content_type is MISSING:
        return Message(role, content)
    one_of(content_type, f"{path}.content_type", CONTENT_TYPES)
    if content_type == "image":
        if not version.images:
            raise schema_error(f"{path}.content_type", "image is not supported by this domain")
        try:
            base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise SparkError(
                10161, "Base64DecodeError", f"'{path}.content' base64 decode failed"
            ) from None
        return Message(role, content, content_type)
    return Message(role, content)


def _functions(value: Any, version: SparkVersion) -> tuple[FunctionSpec, ...]:
    if value is MISSING:
        return ()
    path = "$.payload.functions"
    if not version.functions:
        raise _unsupported(path, version)
    items = array(field(obj(value, path), "text"), f"{path}.text")
    if not items:
        raise schema_error(f"{path}.text", "must have at least 1 item")
    specs = []
    for index, item in enumerate(items):
        at = f"{path}.text[{index}]"
        entry = obj(item, at)
        name = string(field(entry, "name"), f"{at}.name")
        if not name:
            raise schema_error(f"{at}.name", "length must be greater or equal than 1")
        if (description := field(entry, "description")) is not MISSING:
            string(description, f"{at}.description")
        parameters = field(entry, "parameters")
        specs.append(
            FunctionSpec(name, {} if parameters is MISSING else _parameters(parameters, at))
        )
    return tuple(specs)


def _parameters(value: Any, function_path: str) -> dict[str, Any]:
    """A function's ``parameters``: a ``type: "object"`` JSON Schema (spec 2.5), shape only."""
    path = f"{function_path}.parameters"
    parameters = obj(value, path)
    one_of(field(parameters, "type"), f"{path}.type", ("object",))
    if (properties := field(parameters, "properties")) is not MISSING:
        obj(properties, f"{path}.properties")
    if (required := field(parameters, "required")) is not MISSING:
        for index, name in enumerate(array(required, f"{path}.required")):
            string(name, f"{path}.required[{index}]")
    return parameters
