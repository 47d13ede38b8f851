"""Retry and fallback policies with scripted calls: what is retried, when, how long, and what
the client sees.  A fake sleep records the delays (no waiting)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from asgi_spark.errors import (
    GatewayError,
    InvalidRequestError,
    UpstreamClosedError,
    UpstreamUnavailableError,
)
from asgi_spark.events import ContentDelta, Event, Failed, Finish, Started
from asgi_spark.openai_types import request_decoder
from asgi_spark.pipeline import Call, CallNext, RequestContext, Source, compose
from asgi_spark.policies.fallback import fallback
from asgi_spark.policies.retry import Backoff, retry

BODY = request_decoder.decode(b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}')
OK: list[list[Event]] = [[Started("s"), ContentDelta("hi"), Finish("stop")]]


def busy(retry_after: float | None = None) -> list[list[Event]]:
    return [[Failed(UpstreamUnavailableError("busy", retry_after=retry_after))]]


class Script:
    """A call whose n-th invocation plays ``answers[n]``; records the models called."""

    def __init__(self, answers: Sequence[list[list[Event]]]) -> None:
        self.answers = list(answers)
        self.models: list[str] = []

    async def __call__(self, call: Call) -> Source:
        self.models.append(call.model)
        call.context.attempts += 1
        for batch in self.answers.pop(0):
            if any(isinstance(e, Started) for e in batch):
                call.context.committed = True  # as the writer would on receiving it
            yield batch


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def _call(model: str = "m") -> Call:
    return Call(BODY, model, RequestContext(endpoint="chat.completions", requested_model=model))


async def _run(call_next: CallNext, call: Call | None = None) -> list[list[Event]]:
    return [batch async for batch in call_next(call or _call())]


async def test_a_retryable_failure_before_the_answer_is_retried_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script, sleeps = Script([busy(), busy(), OK]), Sleeps()
    policy = retry(
        Backoff(max_retries=3, initial_delay=0.5, jitter=False), deadline=None, sleep=sleeps
    )
    call = _call()
    with caplog.at_level(logging.WARNING, "asgi_spark"):
        batches = await _run(compose([policy], script), call)
    assert batches == OK
    assert sleeps.delays == [0.5, 1.0]
    assert call.context.attempts == 3
    assert "retrying model=m attempt=2" in caplog.text and "attempt=3" in caplog.text


async def test_retries_stop_after_max_retries_with_the_last_failure() -> None:
    script, sleeps = Script([busy()] * 3), Sleeps()
    policy = retry(
        Backoff(max_retries=2, initial_delay=0.1, jitter=False), deadline=None, sleep=sleeps
    )
    batches = await _run(compose([policy], script))
    assert len(batches) == 1 and isinstance(batches[0][0], Failed)
    assert batches[0][0].error.code == "upstream_unavailable"
    assert len(script.models) == 3 and sleeps.delays == [0.1, 0.2]


@pytest.mark.parametrize(
    "error", [InvalidRequestError("bad"), GatewayError("x", retryable=False)], ids=["400", "final"]
)
async def test_a_failure_that_is_not_retryable_is_never_retried(error: GatewayError) -> None:
    script, sleeps = Script([[[Failed(error)]], OK]), Sleeps()
    batches = await _run(compose([retry(Backoff(), deadline=None, sleep=sleeps)], script))
    assert batches == [[Failed(error)]]
    assert len(script.models) == 1 and not sleeps.delays


async def test_a_failure_after_the_first_byte_is_never_retried() -> None:
    broken: list[list[Event]] = [
        [Started("s"), ContentDelta("a")],
        [Failed(UpstreamClosedError("cut"))],
    ]
    script, sleeps = Script([broken, OK]), Sleeps()
    batches = await _run(compose([retry(Backoff(), deadline=None, sleep=sleeps)], script))
    assert batches == broken
    assert len(script.models) == 1


async def test_delays_are_capped_jittered_and_follow_retry_after() -> None:
    backoff = Backoff(initial_delay=1, max_delay=5, exponential_base=10, jitter=True)
    assert backoff.delay(1, None, lambda: 0.5) == 0.5
    assert backoff.delay(3, None, lambda: 1.0) == 5  # 100 capped at 5
    assert backoff.delay(1, 3.0, lambda: 0.1) == 3.0  # Retry-After wins when longer
    assert backoff.delay(1, 60.0, lambda: 0.1) == 5  # ... still capped


async def test_no_retry_starts_past_the_request_deadline() -> None:
    script, sleeps = Script([busy(retry_after=30), OK]), Sleeps()
    policy = retry(Backoff(max_retries=3, max_delay=60), deadline=10, sleep=sleeps)
    batches = await _run(compose([policy], script))
    assert isinstance(batches[0][0], Failed) and not sleeps.delays


async def test_fallback_tries_the_next_model_and_names_it() -> None:
    primary, backup = Script([busy()]), Script([OK])
    routes = {"backup": backup}
    call = _call("primary")
    batches = await _run(compose([fallback(["backup"], routes.__getitem__)], primary), call)
    assert batches == OK
    assert primary.models == ["primary"] and backup.models == ["backup"]


async def test_fallback_gives_the_last_failure_when_every_candidate_fails() -> None:
    a, b, c = Script([busy()]), Script([busy()]), Script([[[Failed(UpstreamClosedError("c"))]]])
    routes = {"b": b, "c": c}
    batches = await _run(compose([fallback(["b", "c"], routes.__getitem__)], a), _call("a"))
    assert batches[0][0].error.code == "upstream_closed"  # type: ignore[union-attr]
    assert (a.models, b.models, c.models) == (["a"], ["b"], ["c"])


async def test_fallback_does_not_hide_a_non_retryable_failure() -> None:
    bad = [[Failed(InvalidRequestError("bad"))]]
    primary, backup = Script([bad]), Script([OK])
    batches = await _run(compose([fallback(["backup"], {"backup": backup}.__getitem__)], primary))
    assert batches == bad and backup.models == []


async def test_each_candidate_keeps_its_own_retries() -> None:
    sleeps = Sleeps()
    backoff = Backoff(max_retries=1, initial_delay=0.1, jitter=False)
    primary, backup = Script([busy(), busy()]), Script([busy(), OK])
    routes = {"backup": compose([retry(backoff, deadline=None, sleep=sleeps)], backup)}
    chain = compose(
        [fallback(["backup"], routes.__getitem__), retry(backoff, deadline=None, sleep=sleeps)],
        primary,
    )
    call = _call("primary")
    assert await _run(chain, call) == OK
    assert call.context.attempts == 4 and sleeps.delays == [0.1, 0.1]
