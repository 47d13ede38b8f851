"""Structured output and forced tool choice, which Spark's WebSocket API lacks, emulated.

What a request asks for (:func:`plan`), and how it is emulated:

* ``tool_choice: "required"``, ``{"type": "function", "function": {"name": X}}`` or the legacy
  ``function_call: {"name": X}``: only the named function is offered (all of them for
  ``required``), an instruction asks the model to call it, and the answer must be that call.
* ``response_format: {"type": "json_schema", ...}`` or ``{"type": "json_object"}``:
  - on a model with function calling, the schema becomes one function the model is asked to
    call; its arguments are the answer's content (the client's own tools stay available, and a
    call of one of them is passed through as a tool call);
  - on a model without, an instruction asks for JSON only, valid for the schema, and code
    fences around the JSON are removed.
  The content must parse as JSON (an object for ``json_object``) and, for ``json_schema``,
  validate against the schema (:mod:`asgi_spark.schema_validate`).

The answer is **held** until it is checked (a streaming client gets it at once when it passes),
because a wrong answer is asked again: up to ``structured_retries`` more times (per model,
default 1; each counts as an attempt and stays within the model's deadline).  When every
answer failed the check, the client gets a 502 ``structured_output_failed`` that says what was
wrong (for a schema, the path that failed) — never invalid JSON presented as success.
Upstream failures pass through as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from ..errors import InvalidRequestError, StructuredOutputError
from ..events import ContentDelta, Event, Failed, Finish, Started, ToolCall, Usage, fold
from ..openai_types import ChatCompletionRequest, ChatMessage, FunctionSpec, ToolSpec
from ..pipeline import Call, CallNext, Policy, Source
from ..schema_validate import SchemaError, first_error
from .choices import single_choice_only

Kind = Literal["tool", "json_function", "json_text"]
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_FENCE = re.compile(r"^\s*```[A-Za-z0-9_-]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Plan:
    kind: Kind
    body: ChatCompletionRequest  # what goes upstream
    function: str | None  # the function the answer must call (None: any offered one)
    schema: dict[str, Any] | None  # what the JSON content must validate against
    json_object: bool = False  # the content must be a JSON object


def plan(body: ChatCompletionRequest, *, functions: bool) -> Plan | None:
    """How to emulate what ``body`` asks for, or ``None`` when it asks for nothing of this."""
    forced = _forced_function(body)
    fmt = body.response_format or {}
    kind = fmt.get("type", "text")
    if kind not in ("text", "json_object", "json_schema"):
        raise InvalidRequestError(
            f"response_format type {kind!r} is not supported; use text, json_object or json_schema",
            param="response_format.type",
        )
    if forced is not None and kind != "text":
        raise InvalidRequestError(
            "a forced tool_choice and a JSON response_format cannot be combined; use one",
            param="response_format",
        )
    if forced is not None:
        return _plan_tool(body, forced)
    if kind == "text":
        return None
    schema = _schema(fmt) if kind == "json_schema" else None
    base = msgspec.structs.replace(body, response_format=None)
    if functions:
        return _plan_json_function(base, fmt, schema)
    return _plan_json_text(base, schema)


def _forced_function(body: ChatCompletionRequest) -> str | Literal[True] | None:
    """The function name a request forces, ``True`` for any (``required``), else ``None``."""
    for choice, param in ((body.tool_choice, "tool_choice"), (body.function_call, "function_call")):
        if choice is None or choice in ("auto", "none"):
            continue
        if choice == "required" and param == "tool_choice":
            return True
        if isinstance(choice, dict):
            function = choice.get("function") if param == "tool_choice" else choice
            name = function.get("name") if isinstance(function, dict) else None
            if isinstance(name, str) and name:
                return name
        raise InvalidRequestError(
            f"'{param}' must be 'auto', 'none'"
            + (", 'required'" if param == "tool_choice" else "")
            + " or name a function",
            param=param,
        )
    return None


def _plan_tool(body: ChatCompletionRequest, forced: str | Literal[True]) -> Plan | None:
    tools = list(body.tools or ())
    legacy = list(body.functions or ())
    names = [t.function.name for t in tools if t.function] + [f.name for f in legacy]
    if not names:
        if forced is True:
            return None  # "required" of nothing: ignored (named), or refused with strict_params
        raise InvalidRequestError("a forced tool_choice needs tools to choose from", param="tools")
    if forced is True:
        listed = ", ".join(names)
        instruction = f"请调用以下函数之一来回答：{listed}。(Answer by calling one of: {listed}.)"
        return Plan("tool", _ask(body, instruction, tools, legacy), None, None)
    if forced not in names:
        raise InvalidRequestError(
            f"tool_choice names {forced!r}, which is not among the tools ({', '.join(names)})",
            param="tool_choice",
        )
    tools = [t for t in tools if t.function and t.function.name == forced]
    legacy = [f for f in legacy if f.name == forced]
    instruction = (
        f"请调用函数 {forced} 来回答，不要直接回答。(Answer by calling the function {forced}.)"
    )
    return Plan("tool", _ask(body, instruction, tools, legacy), forced, None)


def _plan_json_function(
    body: ChatCompletionRequest, fmt: dict[str, Any], schema: dict[str, Any] | None
) -> Plan:
    spec = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
    raw_name = spec.get("name") if isinstance(spec, dict) else None
    name = _NAME_UNSAFE.sub("_", raw_name) if isinstance(raw_name, str) and raw_name else "answer"
    parameters = schema if schema is not None else {"type": "object", "properties": {}}
    function = FunctionSpec(
        name=name,
        description="Give the answer as this function's arguments.",
        parameters=parameters,
    )
    tools = [*(body.tools or ()), ToolSpec(type="function", function=function)]
    instruction = f"请调用函数 {name} 给出答案。(Give the answer by calling the function {name}.)"
    return Plan(
        "json_function",
        _ask(body, instruction, tools, list(body.functions or ())),
        name,
        schema,
        json_object=schema is None,
    )


def _plan_json_text(body: ChatCompletionRequest, schema: dict[str, Any] | None) -> Plan:
    if schema is None:
        instruction = "Answer with a JSON object only, no other text. 只用一个 JSON 对象作答。"
    else:
        text = json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        instruction = (
            "Answer with JSON only, no other text, valid for this JSON Schema: "
            f"{text} 只用符合该模式的 JSON 作答。"
        )
    return Plan("json_text", _ask(body, instruction, None, None), None, schema, schema is None)


def _ask(
    body: ChatCompletionRequest,
    instruction: str,
    tools: list[ToolSpec] | None,
    functions: list[FunctionSpec] | None,
) -> ChatCompletionRequest:
    """``body`` with the instruction as a last user turn and only the given tools."""
    return msgspec.structs.replace(
        body,
        messages=[*body.messages, ChatMessage(role="user", content=instruction)],
        tools=tools or None,
        functions=functions or None,
        tool_choice=None,
        function_call=None,
    )


def _schema(fmt: dict[str, Any]) -> dict[str, Any]:
    spec = fmt.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequestError(
            "response_format json_schema needs 'json_schema.schema', a JSON Schema object",
            param="response_format.json_schema.schema",
        )
    return schema


# ------------------------------------------------------------------------------- checking


def structured(*, functions: bool, retries: int) -> Policy:
    """The policy for one model: ``functions`` says whether it has function calling."""

    def policy(call: Call, call_next: CallNext) -> Source:
        body = call.body
        if body.response_format is None and body.tool_choice is None and body.function_call is None:
            return call_next(call)  # nothing to emulate: no layer of its own
        return _emulate(call, call_next)

    async def _emulate(call: Call, call_next: CallNext) -> Source:
        chosen = plan(call.body, functions=functions)
        if chosen is None:
            async with aclosing(call_next(call)) as source:
                async for batch in source:
                    yield batch
            return
        single_choice_only(call.body, "tool_choice" if chosen.kind == "tool" else "response_format")
        upstream = Call(chosen.body, call.model, call.context)
        problem = ""
        for _ in range(retries + 1):
            held: list[list[Event]] = []
            async with aclosing(call_next(upstream)) as source:
                async for batch in source:
                    held.append(batch)
            failure = next((e for b in held for e in b if isinstance(e, Failed)), None)
            if failure is not None:
                yield [failure]
                return
            checked = check(chosen, held)
            if isinstance(checked, str):
                problem = checked
                continue
            for batch in checked:
                yield batch
            return
        yield [Failed(StructuredOutputError(f"{problem} (asked {retries + 1} times)"))]

    return policy


def check(chosen: Plan, held: Sequence[list[Event]]) -> list[list[Event]] | str:
    """The batches to show for a complete answer, or what is wrong with it."""
    calls = [e for b in held for e in b if isinstance(e, ToolCall)]
    if chosen.kind == "tool":
        if not calls:
            wanted = f"the function {chosen.function!r}" if chosen.function else "a function"
            return f"the model answered with text instead of calling {wanted}"
        return list(held)
    if chosen.kind == "json_function":
        own = [c for c in calls if c.name == chosen.function]
        if calls and not own:
            return list(held)  # a call of one of the client's own tools
        if not own:
            return "the model answered with text instead of the JSON answer"
        text = own[0].arguments
    else:
        text = "".join(fold(b).content or "" for b in held)
        fenced = _FENCE.match(text)
        text = fenced.group(1) if fenced else text.strip()
    problem = _invalid(text, chosen)
    if problem is not None:
        return problem
    return _as_content(held, text)


def _invalid(text: str, chosen: Plan) -> str | None:
    try:
        document = json.loads(text)
    except ValueError:
        return "the model's answer is not valid JSON"
    if chosen.json_object and not isinstance(document, dict):
        return "the model's answer is JSON but not an object"
    if chosen.schema is None:
        return None
    try:
        problem = first_error(document, chosen.schema)
    except SchemaError as exc:
        raise InvalidRequestError(
            f"the response_format schema cannot be used: {exc}",
            param="response_format.json_schema.schema",
        ) from None
    return None if problem is None else f"the model's answer does not fit the schema: {problem}"


def _as_content(held: Sequence[list[Event]], text: str) -> list[list[Event]]:
    """The answer as one content delta after the start (reasoning kept), finish ``stop``."""
    head: list[Event] = []
    tail: list[Event] = []
    for batch in held:
        for event in batch:
            if isinstance(event, Usage):
                tail.append(event)
            elif isinstance(event, Finish):
                continue
            elif isinstance(event, Started) or not isinstance(event, ContentDelta | ToolCall):
                head.append(event)
    return [head, [ContentDelta(text), Finish("stop"), *tail]]


__all__ = ["Plan", "check", "plan", "structured"]
