"""OpenAI-level events: what a translator emits and what the encoders turn into bytes.

An upstream answer is a sequence of events ending in exactly one terminal event,
:class:`Finish` or :class:`Failed`.  :class:`Usage` may come right after :class:`Finish`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import GatewayError

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


@dataclass(frozen=True, slots=True)
class Started:
    """The upstream accepted the request; ``response_id`` identifies the answer."""

    response_id: str


@dataclass(frozen=True, slots=True)
class ContentDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    index: int
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Finish:
    reason: FinishReason


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class Failed:
    error: GatewayError


Event = Started | ContentDelta | ReasoningDelta | ToolCall | Finish | Usage | Failed
