"""OpenAI Chat Completions request → Spark request frame (spec sections 2 and 8.1).  No I/O.

Rules, in the order they are applied:

* Parameters Spark cannot honour are refused with a 400 naming the parameter (``n`` > 1,
  ``logprobs``, ``stop``, ``logit_bias``, non-text ``response_format``, forced ``tool_choice``,
  audio...).  ``seed``, ``store``, ``metadata``, ``service_tier``, ``parallel_tool_calls`` and
  ``reasoning_effort`` are accepted and ignored: they do not change what a correct answer is.
* ``temperature`` (OpenAI [0, 2]) is halved into Spark's (0, 1]; 0 becomes 0.01.
* ``max_completion_tokens`` (or ``max_tokens``) must be >= 1 and is clamped to the model's range.
* ``user`` becomes ``header.uid``; longer than 32 characters it is replaced by a stable hash.
* Messages: content parts are flattened to text (image models take ``data:`` URL images as
  separate ``content_type: "image"`` turns; text models refuse images); tool results and
  assistant tool calls become text turns; one leading system message is kept (later ones
  become user turns; models without system support get it folded into the first user turn);
  empty turns are dropped; consecutive turns of one role are merged; the conversation must end
  with a user turn.
* ``tools`` (or legacy ``functions``) become ``payload.functions.text``; the key is omitted when
  there are none.  OpenAI ``n`` is never mapped to ``top_k``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Final

from ...errors import InvalidRequestError, UnsupportedParameterError
from ...openai_types import ChatCompletionRequest, ChatMessage, FunctionSpec
from .frames import (
    ChatParameter,
    FunctionDef,
    Functions,
    Message,
    MessageText,
    Parameter,
    RequestFrame,
    RequestHeader,
    RequestPayload,
)
from .options import spark_options
from .params import refuse, refuse_unsupported
from .versions import SparkVersion

MAX_UID: Final = 32
MIN_TEMPERATURE: Final = 0.01


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how a request is sent: what the frame needs from the model's configuration."""

    app_id: str
    version: SparkVersion
    domain: str
    temperature: float | None = None  # the entry's default, already in Spark's (0, 1]
    max_tokens: int | None = None  # the entry's default
    top_k: int | None = None
    strict: bool = False  # refuse ignorable fields (the entry's strict_params)


@dataclass(frozen=True, slots=True)
class SparkRequest:
    frame: RequestFrame
    max_tokens: int  # the completion budget actually requested: finish "length" is measured on it


def build_request(request: ChatCompletionRequest, target: Target) -> SparkRequest:
    """Map ``request`` for ``target`` or raise :class:`InvalidRequestError` naming the field."""
    refuse_unsupported(request, target.version, strict=target.strict)
    max_tokens = _max_tokens(request, target)
    options = spark_options(request.spark, target.version)
    chat = ChatParameter(
        domain=target.domain,
        temperature=_temperature(request, target),
        max_tokens=max_tokens,
        top_k=options.top_k or target.top_k,
        chat_id=options.chat_id,
        tools=options.tools,
    )
    if target.version.reasoning:
        chat.top_p = request.top_p
        chat.presence_penalty = request.presence_penalty
        chat.frequency_penalty = request.frequency_penalty
    functions = _functions(request, target.version)
    frame = RequestFrame(
        header=RequestHeader(app_id=target.app_id, uid=_uid(request.user)),
        parameter=Parameter(chat=chat),
        payload=RequestPayload(
            message=MessageText(text=build_messages(request.messages, target.version)),
            functions=Functions(text=functions) if functions else None,
        ),
    )
    return SparkRequest(frame=frame, max_tokens=max_tokens)


# ---------------------------------------------------------------------------- parameters


def _max_tokens(request: ChatCompletionRequest, target: Target) -> int:
    low, high = target.version.max_tokens
    asked = request.max_completion_tokens
    param = "max_completion_tokens"
    if asked is None:
        asked, param = request.max_tokens, "max_tokens"
    if asked is None:
        asked = target.max_tokens or target.version.default_max_tokens
    elif asked < low:
        raise InvalidRequestError(f"'{param}' must be at least {low}, got {asked}", param=param)
    return min(asked, high)


def _temperature(request: ChatCompletionRequest, target: Target) -> float | None:
    if request.temperature is None:
        return target.temperature
    return max(MIN_TEMPERATURE, min(1.0, round(request.temperature / 2, 4)))


def _uid(user: str | None) -> str | None:
    if not user:
        return None
    if len(user) <= MAX_UID:
        return user
    return hashlib.sha256(user.encode("utf-8")).hexdigest()[:MAX_UID]


def _functions(request: ChatCompletionRequest, version: SparkVersion) -> list[FunctionDef]:
    if request.tool_choice == "none" or request.function_call == "none":
        return []
    specs: list[tuple[str, FunctionSpec]] = []
    for i, tool in enumerate(request.tools or ()):
        if tool.type != "function":
            raise refuse(
                f"tools[{i}].type", f"only function tools are supported, not {tool.type!r}"
            )
        if tool.function is None:
            raise InvalidRequestError(
                f"'tools[{i}].function' is required for a function tool",
                param=f"tools[{i}].function",
            )
        specs.append((f"tools[{i}]", tool.function))
    specs.extend((f"functions[{i}]", f) for i, f in enumerate(request.functions or ()))
    if specs and not version.functions:
        raise refuse(specs[0][0].split("[")[0], f"{version.product} has no function calling")
    return [
        FunctionDef(
            name=spec.name,
            description=spec.description or "",
            parameters=_parameters(spec.parameters, f"{where}.parameters"),
        )
        for where, spec in specs
    ]


def _parameters(parameters: dict[str, Any] | None, where: str) -> dict[str, Any]:
    """Spark reads ``parameters`` as an object schema ``{"type": "object", "properties": ...}``
    (spec 2.5); OpenAI allows it absent or ``{}`` for a function without arguments."""
    kind = (parameters or {}).get("type", "object")
    if kind != "object":
        raise InvalidRequestError(
            f"'{where}' must be a JSON Schema of type 'object', not {kind!r}", param=where
        )
    return {"type": "object", "properties": {}, **(parameters or {})}


# ------------------------------------------------------------------------------ messages

_ROLES: Final = {"system", "developer", "user", "assistant", "tool", "function"}


def build_messages(messages: list[ChatMessage], version: SparkVersion) -> list[Message]:
    """Spark's ``payload.message.text`` for an OpenAI conversation (see the module docstring)."""
    if not messages:
        raise InvalidRequestError("'messages' must contain at least one message", param="messages")
    tool_names: dict[str, str] = {}
    turns: list[Message] = []
    for i, message in enumerate(messages):
        role, text, images = _turn(i, message, tool_names, version)
        turns.extend(Message(role="user", content=image, content_type="image") for image in images)
        if text.strip():
            turns.append(Message(role=role, content=text))
    last = next((t for t in reversed(turns) if t.role != "system"), None)
    if last is None or last.role != "user":
        raise InvalidRequestError(
            "the conversation must end with a user message (or a tool result) with content",
            param="messages",
        )
    turns = _place_system(turns, version)
    merged: list[Message] = []
    for turn in turns:
        mergeable = turn.content_type is None and merged and merged[-1].content_type is None
        if mergeable and merged[-1].role == turn.role:
            merged[-1] = Message(role=turn.role, content=f"{merged[-1].content}\n{turn.content}")
        else:
            merged.append(turn)
    return merged


def _turn(
    i: int, message: ChatMessage, tool_names: dict[str, str], version: SparkVersion
) -> tuple[str, str, list[str]]:
    """(Spark role, text, base64 images) for one OpenAI message."""
    role = message.role
    if role not in _ROLES:
        raise InvalidRequestError(
            f"'messages[{i}].role' must be one of {sorted(_ROLES)}, got {role!r}",
            param=f"messages[{i}].role",
        )
    text, images = _flatten(i, message.content, version)
    if images and role != "user":
        raise InvalidRequestError(
            f"'messages[{i}]' has an image, but only user messages may carry images",
            param=f"messages[{i}].content",
        )
    return (*_text_turn(role, text, message, tool_names), images)


def _text_turn(
    role: str, text: str, message: ChatMessage, tool_names: dict[str, str]
) -> tuple[str, str]:
    if role == "developer":
        return "system", text
    if role == "assistant":
        calls = [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or ()]
        if message.function_call is not None:
            calls.append(("", message.function_call.name, message.function_call.arguments))
        lines = [text] if text.strip() else []
        for call_id, name, arguments in calls:
            if call_id:
                tool_names[call_id] = name
            lines.append(f"使用工具：{name}，参数：{arguments}")
        return "assistant", "\n".join(lines)
    if role in ("tool", "function"):
        name = message.name or tool_names.get(message.tool_call_id or "", "")
        label = f"工具 {name} 的返回结果" if name else "工具的返回结果"
        return "user", f"{label}：\n{text}" if text.strip() else ""
    return role, text


def _flatten(
    i: int, content: str | list[dict[str, Any]] | None, version: SparkVersion
) -> tuple[str, list[str]]:
    """The text of ``content`` and, for image models, its images as base64."""
    if content is None or isinstance(content, str):
        return content or "", []
    pieces: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        where = f"messages[{i}].content[{j}]"
        if kind == "text" and isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            pieces.append(part["refusal"])
        elif kind == "image_url":
            if not version.images:
                raise UnsupportedParameterError(
                    f"'{where}' is an image, and {version.product} takes text only; "
                    "configure a Spark image model (api_version 'image') for images",
                    param=where,
                )
            images.append(_image_base64(part.get("image_url"), where))
        elif kind in ("text", "refusal"):
            raise InvalidRequestError(f"'{where}' has no {kind!r} string", param=where)
        else:
            raise UnsupportedParameterError(
                f"'{where}.type' {kind!r} is not supported; Spark takes text and image parts",
                param=f"{where}.type",
            )
    return "\n".join(pieces), images


def _image_base64(image_url: Any, where: str) -> str:
    """The base64 payload of a ``data:image/...;base64,`` URL: Spark takes images inline."""
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str):
        raise InvalidRequestError(f"'{where}.image_url.url' must be a string", param=where)
    header, sep, data = url.partition(",")
    if not (sep and header.startswith("data:image/") and header.endswith(";base64")):
        raise UnsupportedParameterError(
            f"'{where}.image_url.url' must be a data:image/...;base64, URL; the gateway does "
            "not download images",
            param=f"{where}.image_url.url",
        )
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(
            f"'{where}.image_url.url' is not valid base64", param=f"{where}.image_url.url"
        ) from None
    return data


def _place_system(turns: list[Message], version: SparkVersion) -> list[Message]:
    if not turns or not any(t.role == "system" for t in turns):
        return turns
    head: Message | None = None
    if turns[0].role == "system":
        head, turns = turns[0], turns[1:]
    rest = [Message(role="user", content=t.content) if t.role == "system" else t for t in turns]
    if head is None:
        return rest
    if version.system:
        return [head, *rest]
    first_user = next(
        (k for k, t in enumerate(rest) if t.role == "user" and t.content_type is None), None
    )
    if first_user is None:
        return [Message(role="user", content=head.content), *rest]
    folded = Message(role="user", content=f"{head.content}\n\n{rest[first_user].content}")
    return [*rest[:first_user], folded, *rest[first_user + 1 :]]
