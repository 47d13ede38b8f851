"""A Responses API request → a Chat Completions request, for the chat pipeline.  No I/O.

The mapping, field by field (:data:`~asgi_spark.field_support.RESPONSES_FIELDS` lists every field):

* ``instructions`` → a system message in front.  With ``previous_response_id`` the stored
  conversation (its input and output, never its instructions, as OpenAI does) comes next.
* ``input``: a string is one user message.  Items: ``message`` (roles user, system, developer,
  assistant; ``input_text``/``output_text``/``refusal`` parts become text parts, ``input_image``
  parts become Chat ``image_url`` parts, which the model's mapping then checks exactly as for
  Chat: data URLs only, image models only); ``function_call`` → an assistant message with
  ``tool_calls`` (consecutive calls share one); ``function_call_output`` → a ``tool`` message;
  ``reasoning`` items are dropped (Spark is not sent earlier reasoning).  Other items
  (``item_reference``, built-in tool calls, files) are refused with a 400 naming the item.
* ``tools`` (function tools only) → Chat ``tools``; ``tool_choice`` (``auto``, ``none``,
  ``required``, ``{"type": "function", "name": ...}``) → Chat ``tool_choice``.
* ``text.format`` → ``response_format`` (``json_object``, ``json_schema`` with ``strict``).
* ``max_output_tokens`` → ``max_completion_tokens``; ``temperature``, ``top_p``,
  ``parallel_tool_calls``, ``service_tier`` and ``reasoning.effort`` go across as they are (the
  model then honours or names them as for Chat); ``user`` (else ``safety_identifier``) → ``user``.

Errors raised later by the chat pipeline name Chat paths (``messages[2].content[0]``);
:attr:`Translated.rename` says them in this API's terms (``input[3].content[0]``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import msgspec

from .decoding import split_path
from .errors import InvalidRequestError, UnsupportedParameterError
from .openai_types import (
    ChatCompletionRequest,
    ChatMessage,
    FunctionSpec,
    ToolCall,
    ToolCallFunction,
    ToolSpec,
)
from .param_names import Renamer, chat_renamer
from .responses_types import (
    FunctionCallItem,
    FunctionCallOutputItem,
    MessageItem,
    ResponsesRequest,
)

T = TypeVar("T")

_ROLES: Final = ("user", "system", "developer", "assistant")
_TEXT_PARTS: Final = ("input_text", "output_text", "text")

#: Chat parameter paths → this API's (regular expressions, the first match wins).
_RENAMES: Final = (
    (re.compile(r"^response_format\.json_schema(?=\.|$)"), "text.format"),
    (re.compile(r"^response_format(?=\.|$)"), "text.format"),
    (re.compile(r"^max_(completion_)?tokens$"), "max_output_tokens"),
    (re.compile(r"^reasoning_effort$"), "reasoning.effort"),
    (re.compile(r"^tools\[(\d+)\]\.function(?=\.|$)"), r"tools[\1]"),
)


def unsupported(param: str, why: str) -> UnsupportedParameterError:
    return UnsupportedParameterError(f"'{param}' is not supported: {why}", param=param)


@dataclass(frozen=True, slots=True)
class Translated:
    """The chat request, the conversation to store with the answer, and the renaming."""

    chat: ChatCompletionRequest
    #: The stored conversation and this request's input, without ``instructions``.
    conversation: list[ChatMessage]
    rename: Renamer
    #: Fields of this API accepted and ignored (named in the ignored-parameters header).
    ignored: tuple[str, ...]


def translate(request: ResponsesRequest, previous: Sequence[ChatMessage] = ()) -> Translated:
    """Map ``request`` (continuing ``previous``) or raise a 400 naming the field."""
    _refuse(request)
    paths: list[str] = []
    messages: list[ChatMessage] = []
    if request.instructions:
        messages.append(ChatMessage(role="system", content=request.instructions))
        paths.append("instructions")
    messages.extend(previous)
    paths.extend("previous_response_id" for _ in previous)
    new, new_paths = input_messages(request.input)
    messages.extend(new)
    paths.extend(new_paths)
    reasoning = request.reasoning or {}
    chat = ChatCompletionRequest(
        model=request.model,
        messages=messages,
        stream=request.stream,
        temperature=request.temperature,
        top_p=request.top_p,
        max_completion_tokens=request.max_output_tokens,
        user=request.user or request.safety_identifier,
        tools=tools(request.tools),
        tool_choice=tool_choice(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=response_format(request),
        service_tier=request.service_tier,
        reasoning_effort=reasoning.get("effort") if isinstance(reasoning, dict) else None,
        spark=request.spark,
    )
    return Translated(
        chat=chat,
        conversation=[*previous, *new],
        rename=chat_renamer(paths, _RENAMES, "input"),
        ignored=_ignored(request),
    )


def _refuse(request: ResponsesRequest) -> None:
    if request.top_logprobs:
        raise unsupported("top_logprobs", "Spark does not return token log probabilities")
    if request.background:
        raise unsupported("background", "the gateway answers in the foreground only")
    if request.conversation is not None:
        raise unsupported(
            "conversation", "the gateway has no Conversations API; use previous_response_id"
        )
    if request.prompt is not None:
        raise unsupported("prompt", "the gateway has no stored prompt templates")
    if "message.output_text.logprobs" in (request.include or ()):
        raise unsupported("include", "Spark does not return token log probabilities")
    if request.input is None or request.input == [] or request.input == "":
        raise InvalidRequestError("'input' is required and must not be empty", param="input")


def _ignored(request: ResponsesRequest) -> tuple[str, ...]:
    reasoning = request.reasoning or {}
    checks = (
        ("truncation", request.truncation not in (None, "disabled")),
        ("include", bool(request.include)),
        ("prompt_cache_key", request.prompt_cache_key is not None),
        ("prompt_cache_retention", request.prompt_cache_retention is not None),
        ("max_tool_calls", request.max_tool_calls is not None),
        ("reasoning.summary", reasoning.get("summary") is not None),
        ("text.verbosity", request.text is not None and request.text.verbosity is not None),
    )
    return tuple(name for name, applies in checks if applies)


# --------------------------------------------------------------------------------- input


def input_messages(value: str | list[dict[str, Any]] | None) -> tuple[list[ChatMessage], list[str]]:
    """The chat messages for ``input`` and, for each, the path of the item it came from."""
    if value is None:
        return [], []
    if isinstance(value, str):
        return [ChatMessage(role="user", content=value)], ["input"]
    messages: list[ChatMessage] = []
    paths: list[str] = []
    calls_open = False  # the last message is an assistant message of function_call items
    for i, item in enumerate(value):
        where = f"input[{i}]"
        kind = item.get("type", "message")
        if kind == "function_call":
            call = _convert(item, FunctionCallItem, where)
            tool_call = ToolCall(
                id=call.call_id,
                function=ToolCallFunction(name=call.name, arguments=call.arguments),
            )
            if calls_open and messages[-1].tool_calls is not None:
                messages[-1].tool_calls.append(tool_call)
            else:
                messages.append(ChatMessage(role="assistant", tool_calls=[tool_call]))
                paths.append(where)
            calls_open = True
            continue
        calls_open = False
        if kind == "message":
            message = _convert(item, MessageItem, where)
            if message.role not in _ROLES:
                raise InvalidRequestError(
                    f"'{where}.role' must be one of {', '.join(_ROLES)}, got {message.role!r}",
                    param=f"{where}.role",
                )
            content = _parts(message.content, where)
            messages.append(ChatMessage(role=message.role, content=content))
        elif kind == "function_call_output":
            output = _convert(item, FunctionCallOutputItem, where)
            text = _output_text(output.output, f"{where}.output")
            messages.append(ChatMessage(role="tool", tool_call_id=output.call_id, content=text))
        elif kind == "reasoning":
            continue  # earlier reasoning is not sent to Spark
        elif kind == "item_reference":
            raise unsupported(
                f"{where}.type",
                "item references need OpenAI's item store; send the item itself, or continue "
                "with previous_response_id",
            )
        else:
            raise unsupported(
                f"{where}.type",
                f"{kind!r} items are not supported; send message, function_call and "
                "function_call_output items",
            )
        paths.append(where)
    return messages, paths


def _convert(item: dict[str, Any], kind: type[T], where: str) -> T:
    try:
        return msgspec.convert(item, kind)
    except msgspec.ValidationError as exc:
        detail, path = split_path(str(exc))
        param = f"{where}.{path}" if path else where
        raise InvalidRequestError(f"invalid '{param}': {detail}", param=param) from None


def _parts(content: str | list[dict[str, Any]], where: str) -> str | list[dict[str, Any]]:
    """Responses content parts as Chat content parts, one for one (so indexes match)."""
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError(f"'{at}.text' must be a string", param=f"{at}.text")
            parts.append({"type": "text", "text": text})
        elif kind == "refusal":
            parts.append({"type": "refusal", "refusal": part.get("refusal")})
        elif kind == "input_image":
            parts.append({"type": "image_url", "image_url": _image(part, at)})
        else:
            raise unsupported(
                f"{at}.type", f"{kind!r} parts are not supported; send text and image parts"
            )
    return parts


def _image(part: dict[str, Any], at: str) -> dict[str, Any]:
    url = part.get("image_url")
    if url is None and part.get("file_id") is not None:
        raise unsupported(
            f"{at}.file_id", "the gateway has no Files API; send a data: URL as image_url"
        )
    if not isinstance(url, str):
        raise InvalidRequestError(
            f"'{at}.image_url' must be a string (a data:image/...;base64, URL)",
            param=f"{at}.image_url",
        )
    image: dict[str, Any] = {"url": url}
    if isinstance(part.get("detail"), str):
        image["detail"] = part["detail"]
    return image


def _output_text(output: str | list[dict[str, Any]], where: str) -> str:
    if isinstance(output, str):
        return output
    texts: list[str] = []
    for j, part in enumerate(output):
        if part.get("type") not in _TEXT_PARTS or not isinstance(part.get("text"), str):
            raise unsupported(
                f"{where}[{j}]", "a function's output reaches Spark as text: send text parts"
            )
        texts.append(part["text"])
    return "\n".join(texts)


# ------------------------------------------------------------------- tools and formats


def tools(specs: list[dict[str, Any]] | None) -> list[ToolSpec] | None:
    """Function tools as Chat tools; any other tool type is refused."""
    if not specs:
        return None
    out: list[ToolSpec] = []
    for i, spec in enumerate(specs):
        kind = spec.get("type")
        if kind != "function":
            raise unsupported(
                f"tools[{i}].type",
                f"only function tools are supported, not {kind!r} (Spark runs no built-in tools)",
            )
        fields: dict[str, Any] = {
            k: spec[k] for k in ("name", "description", "parameters", "strict") if k in spec
        }
        function = _convert(fields, FunctionSpec, f"tools[{i}]")
        out.append(ToolSpec(type="function", function=function))
    return out


def tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if choice is None or isinstance(choice, str):
        if choice not in (None, "auto", "none", "required"):
            raise InvalidRequestError(
                f"'tool_choice' must be auto, none, required or a function, got {choice!r}",
                param="tool_choice",
            )
        return choice
    if choice.get("type") != "function":
        raise unsupported(
            "tool_choice.type",
            f"only function tool choices are supported, not {choice.get('type')!r}",
        )
    name = choice.get("name")
    if not isinstance(name, str):
        raise InvalidRequestError("'tool_choice.name' must be a string", param="tool_choice.name")
    return {"type": "function", "function": {"name": name}}


def response_format(request: ResponsesRequest) -> dict[str, Any] | None:
    """``text.format`` as Chat's ``response_format`` (``None`` for plain text)."""
    fmt = request.text.format if request.text is not None else None
    kind = (fmt or {}).get("type", "text")
    if fmt is None or kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise unsupported(
            "text.format.type", f"{kind!r}: use text, json_object or json_schema formats"
        )
    for key in ("name", "schema"):
        if key not in fmt:
            raise InvalidRequestError(
                f"'text.format.{key}' is required for a json_schema format",
                param=f"text.format.{key}",
            )
    schema = {
        key: fmt[key]
        for key in ("name", "schema", "strict", "description")
        if fmt.get(key) is not None
    }
    return {"type": "json_schema", "json_schema": schema}


__all__ = [
    "Translated",
    "input_messages",
    "response_format",
    "tool_choice",
    "tools",
    "translate",
    "unsupported",
]
