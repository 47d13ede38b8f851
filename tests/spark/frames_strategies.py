"""Spark response frames for tests: plain builders and hypothesis strategies.

Builders return the encoded frame (``bytes``) exactly as upstream would send it (spec section 3).
Strategies generate whole upstream conversations: lists of :class:`Raw` frames, always to be
followed by the connection closing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

SID = "cht000b702a@dx18d6fb9d758b894540"

# ------------------------------------------------------------------------------- builders


def dumps(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, ensure_ascii=False).encode("utf-8")


def header(
    code: int = 0, message: str = "Success", sid: str = SID, status: int = 1
) -> dict[str, Any]:
    return {"code": code, "message": message, "sid": sid, "status": status}


def usage(prompt: int = 37, completion: int = 169, question: int | None = None) -> dict[str, Any]:
    return {
        "text": {
            "question_tokens": prompt if question is None else question,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    }


def text_item(content: str, **extra: Any) -> dict[str, Any]:
    return {"content": content, "role": "assistant", "index": 0, **extra}


def content(
    seq: int,
    text: str,
    *,
    status: int = 1,
    sid: str = SID,
    reasoning: str | None = None,
    usage_: dict[str, Any] | None = None,
) -> bytes:
    """A content frame (3.1); ``status=2`` makes it a final frame (3.2)."""
    item = text_item(text) if reasoning is None else text_item(text, reasoning_content=reasoning)
    payload: dict[str, Any] = {"choices": {"status": status, "seq": seq, "text": [item]}}
    if usage_ is not None:
        payload["usage"] = usage_
    return dumps({"header": header(sid=sid, status=status), "payload": payload})


def final(seq: int, text: str, *, sid: str = SID, usage_: dict[str, Any] | None = None) -> bytes:
    """The last frame (3.2): status 2, content, and usage when given."""
    return content(seq, text, status=2, sid=sid, usage_=usage_)


def function_call(
    seq: int = 0,
    name: str = "天气查询",
    arguments: str = '{"datetime":"今天","location":"合肥"}',
    *,
    sid: str = SID,
    usage_: dict[str, Any] | None = None,
) -> bytes:
    """The single function-call frame (3.3)."""
    item = text_item("", content_type="text", function_call={"arguments": arguments, "name": name})
    payload: dict[str, Any] = {"choices": {"status": 2, "seq": seq, "text": [item]}}
    if usage_ is not None:
        payload["usage"] = usage_
    return dumps({"header": header(sid=sid, status=2), "payload": payload})


def plugins(sid: str = SID) -> bytes:
    """A web-search plugins frame without choices (3.4)."""
    plugin = {
        "name": "ifly_search",
        "content": json.dumps([{"index": 1, "url": "https://example.com", "title": "t"}]),
        "content_type": "text",
        "content_meta": None,
        "role": "tool",
        "status": "finished",
        "invoked": {"namespace": "ifly_search"},
    }
    return dumps({"header": header(sid=sid, status=1), "payload": {"plugins": {"text": [plugin]}}})


def error(
    code: int,
    message: str = "ClientMsgError:(23:02:32.721) invalid model domain",
    *,
    sid: str = SID,
) -> bytes:
    """A header-only error frame (3.5)."""
    return dumps({"header": header(code=code, message=message, sid=sid, status=2)})


# ----------------------------------------------------------------------------- strategies


@dataclass(frozen=True)
class Raw:
    """One upstream text frame; ``kind`` says what the generator meant it to be."""

    kind: str
    data: bytes


KNOWN_CODES = (
    10000,
    10001,
    10002,
    10003,
    10004,
    10005,
    10006,
    10007,
    10008,
    10009,
    10010,
    10011,
    10012,
    10013,
    10014,
    10015,
    10016,
    10017,
    10018,
    10019,
    10021,
    10110,
    10114,
    10160,
    10161,
    10163,
    10165,
    10222,
    10223,
    10313,
    10907,
    11200,
    11201,
    11202,
    11203,
)

texts = st.one_of(
    st.just(""),
    st.sampled_from(["您", "可以通过以下", "你好，世界！", "Hello", " ", "\n", "😀", 'a"b\\c']),
    st.text(st.characters(codec="utf-8"), max_size=12),
)
sids = st.sampled_from([SID, "cht000b41d5@dx18b851e6931b894550", "", "weird sid/with:chars"])
# Mostly increasing sequence numbers (None = "next one"), sometimes anything.
seqs = st.one_of(st.none(), st.none(), st.none(), st.integers(min_value=-2, max_value=12))
usages = st.one_of(
    st.none(),
    st.builds(
        usage,
        prompt=st.integers(min_value=0, max_value=10_000),
        completion=st.integers(min_value=0, max_value=200),
    ),
)


@st.composite
def conversations(draw: st.DrawFn, max_frames: int = 10) -> list[Raw]:
    """Upstream frames of one answer, well-formed or not; the caller closes the connection."""
    frames: list[Raw] = []
    next_seq = 0
    for _ in range(draw(st.integers(min_value=0, max_value=max_frames))):
        kind = draw(
            st.sampled_from(
                [
                    "content",
                    "content",
                    "content",
                    "reasoning",
                    "final",
                    "function_call",
                    "plugins",
                    "error",
                    "filtered",
                    "malformed",
                ]
            )
        )
        seq = draw(seqs)
        if seq is None:
            seq = next_seq
        next_seq = max(next_seq, seq + 1)
        sid = draw(sids)
        if kind == "content":
            status = draw(st.sampled_from([0, 1, 1, 2]))
            data = content(seq, draw(texts), status=status, sid=sid)
        elif kind == "reasoning":
            data = content(
                seq,
                draw(texts),
                reasoning=draw(texts),
                sid=sid,
                status=draw(st.sampled_from([0, 1, 2])),
            )
        elif kind == "final":
            data = final(seq, draw(texts), sid=sid, usage_=draw(usages))
        elif kind == "function_call":
            data = function_call(
                seq,
                draw(st.sampled_from(["天气查询", "get_weather", "f"])),
                draw(texts),
                sid=sid,
                usage_=draw(usages),
            )
        elif kind == "plugins":
            data = plugins(sid)
        elif kind == "error":
            code = draw(st.one_of(st.sampled_from(KNOWN_CODES), st.integers(1, 2**31)))
            data = error(code, draw(texts), sid=sid)
        elif kind == "filtered":
            data = error(10014, "output moderation", sid=sid)
        else:
            data = draw(malformed)
        frames.append(Raw(kind, data))
    return frames


malformed = st.one_of(
    st.binary(max_size=24),
    st.sampled_from(
        [
            b"",
            b"[]",
            b"null",
            b"{}",
            b'{"header": {"code": "0"}}',
            b'{"header": {"code": 0}}',
            b'{"payload": {}}',
            b'{"header": {"code": 0}, "payload": {"choices": {"status": 1, "seq": 0, "text": []}}}',
            b'{"header": {"code": 0, "message": "\xff"}}',
            b'{"header": {"code": 0}, "payload": {"choices": 1}}',
        ]
    ),
)
close_codes = st.one_of(st.none(), st.sampled_from([1000, 1001, 1006, 1011]))
close_reasons = st.sampled_from(["", "close this ws conn", "time out"])
