"""What the simulator sends for one request: a script of steps, computed without I/O.

:func:`answer_script` turns a valid :class:`.ChatRequest` and the active :class:`.Faults` into a
list of :data:`Step` values (send this frame, pause, close, abort, hang) that the I/O layer plays;
:func:`error_script` does the same for a :class:`.SparkError`.  Everything is deterministic: the
same request gives the same frames, except the sid.

Text answers (spec 3.1, 3.2): ``This is the Spark simulator (<domain>) answering: <question>``
plus fixed filler with some Chinese, cut at ``max_tokens`` tokens (:mod:`.tokens`), split into
irregular chunks seeded by the question.  Frames have ``status`` 0 (first), 1, ..., 2 (last) and
``seq`` 0, 1, 2, ...; the last one carries the last chunk and ``payload.usage.text``.  The echoed
question is the last user message without directives, cut to :data:`ECHO_LIMIT` characters.

Reasoning versions (``SparkVersion.reasoning``, the x1 path) first send
:data:`REASONING_FRAMES` frames with ``reasoning_content`` and ``content: ""``.
``completion_tokens`` counts reasoning and answer; ``max_tokens`` caps their sum.

Function calls (spec 3.3): when functions are declared and the question mentions one by name (or
the ``function`` fault names one), a single ``status: 2`` frame with ``function_call`` and
``completion_tokens: 0``.  A question that follows an assistant turn mentioning the same name is
taken as the function's result coming back, and gets a text answer.  Arguments are a sample
document of the function's ``parameters`` schema (:mod:`.samples`), so they fit it; a question
that asks for JSON (:func:`.samples.json_request`) is answered with a JSON document.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import msgspec

from .directives import DirectiveError, extract_directives
from .errors import SparkError
from .faults import Faults
from .samples import json_request, sample
from .tokens import count_tokens, truncate_tokens
from .validate import ChatRequest, FunctionSpec

CLOSE_REASON: Final = "close this ws conn"
"""Reason of the close frame after every final or error frame (spec 3.6)."""
IDLE_CLOSE_REASON: Final = "time out"
"""Reason of the close frame when no request frame arrives in time."""

ECHO_LIMIT: Final = 256
REASONING_FRAMES: Final = 3
FILLER: Final = (
    "星火认知大模型模拟器为您服务。"
    "This answer was generated offline and deterministically, so that tests, demos and "
    "benchmarks can run without the real service. "
    "以上内容仅用于测试，不代表真实模型的观点。"
)

_encoder: Final = msgspec.json.Encoder()


def _encode(frame: dict[str, Any]) -> str:
    return _encoder.encode(frame).decode()


@dataclass(frozen=True)
class Send:
    """Send ``data`` as one text frame."""

    data: str


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Close:
    """Close the WebSocket normally; the script ends here."""

    code: int = 1000
    reason: str = CLOSE_REASON


@dataclass(frozen=True)
class Abort:
    """Drop the TCP connection without a close frame; the script ends here."""


@dataclass(frozen=True)
class Hang:
    """Send nothing more and keep the connection open until the client leaves."""


Step: TypeAlias = Send | Pause | Close | Abort | Hang


# ------------------------------------------------------------------------------ frames


def error_frame(error: SparkError, sid: str, ms: int) -> str:
    """A header-only error frame, ``status`` 2 (spec 3.5)."""
    header = {"code": error.code, "message": error.message(ms), "sid": sid, "status": 2}
    return _encode({"header": header})


def _frame(sid: str, status: int, seq: int, item: dict[str, Any], usage: Any = None) -> str:
    payload: dict[str, Any] = {"choices": {"status": status, "seq": seq, "text": [item]}}
    if usage is not None:
        payload["usage"] = {"text": usage}
    header = {"code": 0, "message": "Success", "sid": sid, "status": status}
    return _encode({"header": header, "payload": payload})


def _usage(request: ChatRequest, completion_tokens: int) -> dict[str, int]:
    return {
        "question_tokens": request.question_tokens,
        "prompt_tokens": request.prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": request.prompt_tokens + completion_tokens,
    }


def _malformed_frame(sid: str) -> str:
    """The start of a frame, cut short: not valid JSON."""
    return _frame(sid, 1, 0, {"content": ""})[:60]


# ------------------------------------------------------------------------------- texts


def answer_text(domain: str, question: str) -> str:
    """The scripted answer to ``question`` for ``domain``."""
    echo = " ".join(question.split())[:ECHO_LIMIT]
    return f"This is the Spark simulator ({domain}) answering: {echo}\n{FILLER}"


def reasoning_text(question: str) -> str:
    """The scripted reasoning of a reasoning version."""
    topic = " ".join(question.split())[:40]
    return f"用户的问题是“{topic}”。先理解问题，再分步骤组织回答，最后检查答案是否完整。"


def split_text(text: str, pieces: int, rng: random.Random) -> list[str]:
    """``text`` in ``pieces`` chunks of irregular sizes, padded with ``""`` if it is too short."""
    if pieces <= 1:
        return [text]
    cuts = sorted(rng.sample(range(1, len(text)), min(pieces - 1, max(len(text) - 1, 0))))
    parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return parts + [""] * (pieces - len(parts))


def default_pieces(text: str) -> int:
    """How many frames a text answer gets when the ``chunks`` fault does not say."""
    return max(1, min(len(text), 2 + len(text) // 24))


def sample_arguments(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Arguments that fit a function's JSON-Schema ``parameters`` (:mod:`.samples`)."""
    value = sample(parameters)
    return value if isinstance(value, dict) else {}


# ------------------------------------------------------------------------------ scripts


def error_script(error: SparkError, sid: str, ms: int) -> list[Step]:
    """Answer with ``error`` and close (spec 3.5)."""
    return [Send(error_frame(error, sid, ms)), Close()]


def answer_script(request: ChatRequest, faults: Faults, sid: str, ms: int) -> list[Step]:
    """The steps answering ``request`` under ``faults`` merged with the prompt's directives.

    A bad directive gives the 10004 error script instead.  ``ms`` stamps error messages.
    """
    try:
        question, asked = extract_directives(request.question)
        faults = faults.merged(asked)
        faults.check_combination()
        function = _function_to_call(request, question, faults.function)
    except DirectiveError as exc:
        return error_script(SparkError.schema(f"{exc};"), sid, ms)
    except ValueError as exc:  # the combination of Python faults and directives
        return error_script(SparkError.schema(f"invalid simulator fault: {exc};"), sid, ms)
    terminator = _terminator(faults)
    if function is not None:
        frames = [_function_frame(request, function, sid)]
    else:
        minimum = 1 if terminator is None else terminator[0] + 1
        frames = _text_frames(request, question, faults, sid, minimum)
    steps = _weave(frames, faults, terminator, sid, ms)
    if request.search_references and function is None:
        return [Send(plugins_frame(question, sid)), *steps]
    return steps


def plugins_frame(question: str, sid: str) -> str:
    """Spark's web-search frame (spec 3.4): references, before the answer, no ``choices``."""
    topic = question[:20] or "搜索"
    references = [
        {"index": i, "url": f"https://search.example.com/{i}", "title": f"{topic} - 结果 {i}"}
        for i in (1, 2)
    ]
    plugin = {
        "name": "ifly_search",
        "content": json.dumps(references, ensure_ascii=False),
        "content_type": "text",
        "content_meta": None,
        "role": "tool",
        "status": "finished",
        "invoked": {"namespace": "ifly_search", "plugin_id": "ifly_search"},
    }
    header = {"code": 0, "message": "Success", "sid": sid, "status": 1}
    return _encode({"header": header, "payload": {"plugins": {"text": [plugin]}}})


def _function_to_call(
    request: ChatRequest, question: str, forced: str | None
) -> FunctionSpec | None:
    if forced is not None:
        for spec in request.functions:
            if spec.name == forced:
                return spec
        declared = ", ".join(s.name for s in request.functions) or "none"
        raise ValueError(f"function={forced} names no declared function (declared: {declared})")
    asked = question.casefold()
    before = request.turn_before_question
    answered = before.content if before and before.role == "assistant" else ""
    return next(
        (
            spec
            for spec in request.functions
            if spec.name.casefold() in asked and not _names(answered, spec.name)
        ),
        None,
    )


def _names(text: str, name: str) -> bool:
    """Whether ``text`` names the function ``name``: as a whole word, in its own case (the
    function just called, not an argument that happens to share its letters: ``City`` is not
    named by ``{"city": ...}``)."""
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text) is not None


def _function_frame(request: ChatRequest, function: FunctionSpec, sid: str) -> str:
    arguments = json.dumps(
        sample_arguments(function.parameters), ensure_ascii=False, separators=(",", ":")
    )
    item = {
        "content": "",
        "role": "assistant",
        "content_type": "text",
        "function_call": {"arguments": arguments, "name": function.name},
        "index": 0,
    }
    return _frame(sid, 2, 0, item, _usage(request, 0))


def _text_frames(
    request: ChatRequest, question: str, faults: Faults, sid: str, minimum: int
) -> list[str]:
    budget = request.max_tokens
    reasoning = (
        truncate_tokens(reasoning_text(question), budget) if request.version.reasoning else ""
    )
    budget -= count_tokens(reasoning)
    answer = faults.answer
    if answer is None:
        answer = json_request(question) or answer_text(request.domain, question)
    answer = truncate_tokens(answer, budget)
    completion = count_tokens(reasoning) + count_tokens(answer)

    seed = hashlib.sha256(f"{request.domain}\n{question}".encode()).digest()
    rng = random.Random(int.from_bytes(seed[:8], "big"))
    thoughts = split_text(reasoning, REASONING_FRAMES, rng) if reasoning else []
    pieces = faults.chunks or default_pieces(answer)
    pieces = max(pieces, minimum - len(thoughts))
    items = [
        {"content": "", "reasoning_content": t, "role": "assistant", "index": 0} for t in thoughts
    ]
    items += [
        {"content": p, "role": "assistant", "index": 0} for p in split_text(answer, pieces, rng)
    ]

    last = len(items) - 1
    return [
        _frame(
            sid,
            2 if seq == last else (0 if seq == 0 else 1),
            seq,
            item,
            _usage(request, completion) if seq == last else None,
        )
        for seq, item in enumerate(items)
    ]


_TERMINATORS: Final = ("error_after", "close_after", "malformed_after", "hang_after")


def _terminator(faults: Faults) -> tuple[int, str] | None:
    """``(frames before, fault name)`` of the fault that ends the answer early, if any."""
    counts = {name: getattr(faults, name) for name in _TERMINATORS}
    if faults.error_code is not None and counts["error_after"] is None:
        counts["error_after"] = 0
    active = [
        (count, _TERMINATORS.index(name), name)
        for name, count in counts.items()
        if count is not None
    ]
    if not active:
        return None
    count, _, name = min(active)
    return count, name


def _weave(
    frames: list[str], faults: Faults, terminator: tuple[int, str] | None, sid: str, ms: int
) -> list[Step]:
    """Cut ``frames`` at the terminating fault, add its frame and end, and put in the delays."""
    end: Step = Close()
    if terminator is not None:
        count, name = terminator
        frames = frames[: min(count, len(frames) - 1)]
        if name == "error_after":
            assert faults.error_code is not None
            error = SparkError.for_code(faults.error_code, faults.error_message)
            frames.append(error_frame(error, sid, ms))
        elif name == "malformed_after":
            frames.append(_malformed_frame(sid))
        elif name == "close_after":
            end = Abort()
        else:
            end = Hang()
    steps: list[Step] = []
    for index, data in enumerate(frames):
        delay = faults.first_frame_delay if index == 0 else faults.frame_delay
        if delay:
            steps.append(Pause(delay))
        steps.append(Send(data))
    steps.append(end)
    return steps
