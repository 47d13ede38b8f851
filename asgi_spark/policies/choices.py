"""``n`` > 1: n answers to one request, which Spark gives one at a time, from n concurrent
upstream sessions.

The n sessions run at once (each through the model's retries); their events are relabelled
with their ``choice`` and interleaved as they arrive, so a stream carries chunks of every
choice; one ``Started`` opens the answer; each choice ends with its own ``Finish``; the usage
of all n is summed into the batch of the last one to finish.  A failure of any session fails
the request cleanly and closes the others.  The limit policy outside takes the n sessions'
slots at once or not at all (``slots`` = ``n``), so requests cannot deadlock on partial holds.
``n`` above the model's ``max_n`` (default 4) is a 400, and so is ``n`` > 1 together with
``stop``, a JSON ``response_format`` or a forced ``tool_choice`` (not emulated per choice).
"""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import aclosing

import msgspec

from ..errors import InvalidRequestError
from ..events import (
    Citation,
    ContentDelta,
    Event,
    Failed,
    Finish,
    ReasoningDelta,
    Started,
    ToolCall,
    Usage,
)
from ..openai_types import ChatCompletionRequest
from ..pipeline import Call, CallNext, Policy, Source

_RELABEL = (ContentDelta, ReasoningDelta, ToolCall, Citation, Finish)


def choices_wanted(body: ChatCompletionRequest, max_n: int) -> int:
    """The request's ``n``, checked against ``max_n`` and what cannot be combined with it."""
    n = 1 if body.n is None else body.n
    if n < 1:
        raise InvalidRequestError(f"'n' must be at least 1, not {n}", param="n")
    if n > max_n:
        raise InvalidRequestError(
            f"'n' is {n}, more than this model allows ({max_n}; the model's max_n)", param="n"
        )
    return n


def single_choice_only(body: ChatCompletionRequest, param: str) -> None:
    """For the emulations that work on one answer: ``n`` > 1 with ``param`` is a 400."""
    if body.n is not None and body.n > 1:
        raise InvalidRequestError(f"'n' > 1 cannot be combined with '{param}' yet", param="n")


def choices(max_n: int) -> Policy:
    """The policy for a model whose ``max_n`` is given."""

    def policy(call: Call, call_next: CallNext) -> Source:
        if call.body.n in (None, 1) and max_n >= 1:  # one answer: no layer of its own
            return call_next(call)
        return _choose(call, call_next)

    async def _choose(call: Call, call_next: CallNext) -> Source:
        n = choices_wanted(call.body, max_n)
        if n == 1:
            async with aclosing(call_next(call)) as source:
                async for batch in source:
                    yield batch
            return
        body = msgspec.structs.replace(call.body, n=None)
        call.context.choices = n
        async for batch in _merge(call_next, Call(body, call.model, call.context), n):
            yield batch

    return policy


async def _merge(call_next: CallNext, call: Call, n: int) -> Source:
    queue: asyncio.Queue[tuple[int, list[Event] | None]] = asyncio.Queue()

    async def run(index: int) -> None:
        async with aclosing(call_next(dataclasses.replace(call))) as source:
            async for batch in source:
                await queue.put((index, batch))
        await queue.put((index, None))

    tasks = [asyncio.ensure_future(run(i)) for i in range(n)]
    try:
        started, finished, running = False, 0, n
        usage = Usage(0, 0, 0)
        while running:
            index, batch = await queue.get()
            if batch is None:
                running -= 1
                continue
            out: list[Event] = []
            for event in batch:
                if isinstance(event, Started):
                    if not started:
                        started = True
                        out.append(event)
                elif isinstance(event, Usage):
                    usage = Usage(
                        usage.prompt_tokens + event.prompt_tokens,
                        usage.completion_tokens + event.completion_tokens,
                        usage.total_tokens + event.total_tokens,
                    )
                elif isinstance(event, Failed):
                    yield [*out, event]
                    return  # the finally below closes the other sessions
                elif isinstance(event, _RELABEL):
                    out.append(msgspec.structs.replace(event, choice=index))
                    finished += isinstance(event, Finish)
            if finished == n and usage.total_tokens:
                out.append(usage)
            if out:
                yield out
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


__all__ = ["choices", "choices_wanted", "single_choice_only"]
