"""The ``stop`` policy: OpenAI's stop sequences, which Spark does not have, emulated on the
event stream.

The request goes upstream without ``stop``.  The answer's content is cut before the first
occurrence of any stop sequence, even when it spans frames: only as many characters are held
back as a match could still need (the longest tail of the text so far that begins a stop
sequence), so streaming stays smooth.  At a match the answer finishes with ``stop`` and the
policy stops reading, which closes the upstream session at once.  Spark counts tokens only in
its final frame, which then never comes, so the usage of a cut answer is the gateway's estimate
(:mod:`asgi_spark.token_estimate`: the request's messages, and the reasoning and content
delivered).  Reasoning and tool calls pass untouched.

``stop`` is a string or a list of at most 4 non-empty strings; anything else is a 400 naming it.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Final

import msgspec

from ..errors import InvalidRequestError
from ..events import ContentDelta, Event, Failed, Finish, ReasoningDelta, Usage
from ..pipeline import Call, CallNext, Source
from ..token_estimate import estimate_tokens, prompt_texts
from .choices import single_choice_only

MAX_STOP_SEQUENCES: Final = 4


def stop_sequences(stop: str | list[str] | None) -> tuple[str, ...]:
    """The request's stop sequences, checked; ``()`` when it has none."""
    if stop is None:
        return ()
    items = [stop] if isinstance(stop, str) else stop
    if len(items) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError(
            f"'stop' takes at most {MAX_STOP_SEQUENCES} sequences, not {len(items)}", param="stop"
        )
    for item in items:
        if not item:
            raise InvalidRequestError("'stop' sequences must not be empty", param="stop")
    return tuple(items)


class StopScanner:
    """Finds the first stop sequence in text that arrives in pieces."""

    __slots__ = ("_held", "_stops")

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = stops
        self._held = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """The text that can be shown now, and whether a stop sequence was reached."""
        held = self._held + text
        # The first stop sequence to be *completed* wins, as when a model generates it token by
        # token: the smallest end, then the earliest start.  This makes the cut independent of
        # how the text was split into frames.
        found = [(i + len(s), i) for s in self._stops if (i := held.find(s)) >= 0]
        if found:
            self._held = ""
            return held[: min(found)[1]], True
        keep = self._pending_match(held)
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep], False

    def flush(self) -> str:
        """What is held back, when the answer ends without reaching a stop sequence."""
        held, self._held = self._held, ""
        return held

    def _pending_match(self, text: str) -> int:
        """Length of the longest tail of ``text`` that is a proper prefix of a stop sequence."""
        best = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:size]):
                    best = size
                    break
        return best


def stop(call: Call, call_next: CallNext) -> Source:
    """The policy (see the module docstring); a request without ``stop`` passes untouched,
    without a layer of its own (each layer costs a generator step per batch)."""
    if call.body.stop is None:
        return call_next(call)
    return _stop(call, call_next)


async def _stop(call: Call, call_next: CallNext) -> Source:
    stops = stop_sequences(call.body.stop)
    if not stops:
        async with aclosing(call_next(call)) as source:
            async for batch in source:
                yield batch
        return
    single_choice_only(call.body, "stop")
    body = msgspec.structs.replace(call.body, stop=None)
    async with aclosing(call_next(Call(body, call.model, call.context))) as source:
        async for out in _cut(source, StopScanner(stops), call):
            yield out


async def _cut(source: Source, scanner: StopScanner, call: Call) -> Source:
    content: list[str] = []  # what was delivered, for the usage estimate of a cut answer
    reasoning: list[str] = []
    async for batch in source:
        out: list[Event] = []
        for event in batch:
            if isinstance(event, ContentDelta):
                shown, reached = scanner.feed(event.text)
                if shown:
                    out.append(ContentDelta(shown))
                    content.append(shown)
                if reached:
                    prompt = estimate_tokens(prompt_texts(call.body))
                    completion = estimate_tokens(["".join(reasoning), "".join(content)])
                    out += [Finish("stop"), Usage(prompt, completion, prompt + completion)]
                    yield out
                    return  # closing the source closes the upstream session now
            elif isinstance(event, ReasoningDelta):
                reasoning.append(event.text)
                out.append(event)
            elif isinstance(event, Finish | Failed):
                rest = scanner.flush()
                if rest:
                    out.append(ContentDelta(rest))
                out.append(event)
            else:
                out.append(event)
        yield out


__all__ = ["MAX_STOP_SEQUENCES", "StopScanner", "stop", "stop_sequences"]
