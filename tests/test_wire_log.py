"""The gateway's upstream connections log nothing secret, whatever the host's logging setup
(asgi_spark/adapters/wire_log.py): the root logger at DEBUG, the ``websockets`` loggers at
DEBUG with handlers of their own.  Real requests over loopback to the simulator."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest

from asgi_spark import create_app
from asgi_spark.adapters.wire_log import LOGGER_NAME, RedactingLogger
from asgi_spark.simulator import Faults, SparkSimulator
from tests.e2e.server import API_KEY, API_SECRET, APP_ID, spark_entry

HI = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async with SparkSimulator(app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET) as s:
        yield s


@pytest.fixture
def websockets_handler() -> Iterator[Collect]:
    """A host that configured the library's own loggers at DEBUG, with a handler."""
    handler = Collect()
    library = logging.getLogger("websockets")
    level = library.level
    library.setLevel(logging.DEBUG)
    library.addHandler(handler)
    yield handler
    library.removeHandler(handler)
    library.setLevel(level)


def secrets_of(path: str) -> list[str]:
    """The credentials in a signed target, decoded and encoded, and its query pairs as sent.
    (A date alone is no secret: the server's ``Date`` header says the same.)"""
    query = urlsplit(path).query
    values = [parse_qs(query)["authorization"][0], API_KEY, API_SECRET, APP_ID]
    return [*values, *(quote(v, safe="") for v in values), *query.split("&")]


async def ask(url: str, body: dict[str, object]) -> httpx.Response:
    gateway = create_app([spark_entry("m", url)])
    transport = httpx.ASGITransport(app=gateway)
    async with (
        gateway.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
    ):
        return await client.post("/v1/chat/completions", json=body)


def received_path(caplog: pytest.LogCaptureFixture) -> str:
    """The signed request target as the simulator received it (its own DEBUG log says)."""
    for record in caplog.records:
        message = record.getMessage()
        if record.name.startswith("websockets.server") and message.startswith("< GET "):
            return message.split(" ")[2]
    raise AssertionError("the simulator logged no request line")


def gateway_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every line the root logger would write, except the simulator's (the test's upstream)."""
    return [
        FORMAT.format(record)
        for record in caplog.records
        if not record.name.startswith("websockets.server")
    ]


@pytest.mark.parametrize(
    ("body", "faults", "status"),
    [
        (HI, Faults(), 200),
        ({**HI, "stream": True}, Faults(), 200),
        (HI, Faults(error_code=11200, error_message="no grant"), 502),
        (HI, Faults(close_after=1), 502),
    ],
    ids=["answer", "stream", "error-frame", "closed"],
)
async def test_root_at_debug_sees_no_secret(
    sim: SparkSimulator,
    caplog: pytest.LogCaptureFixture,
    websockets_handler: Collect,
    body: dict[str, object],
    faults: Faults,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger and its handler at DEBUG
    sim.faults = faults
    r = await ask(sim.url, body)
    assert r.status_code == status, r.text
    lines = gateway_lines(caplog)
    upstream = [line for line in lines if line.startswith(LOGGER_NAME)]
    signed_get = "> GET /v3.5/chat?authorization=****&date=****&host=**** HTTP/1.1"
    assert any(line.endswith(signed_get) for line in upstream)
    assert any(" > TEXT [" in line for line in upstream)  # the request frame, by size only
    for line in lines:
        for value in secrets_of(received_path(caplog)):
            assert value not in line, line
    # The library's own loggers never hear of the gateway's connections.
    assert not [rec for rec in websockets_handler.records if rec.name == "websockets.client"]


async def test_a_refused_handshake_logs_no_secret(
    caplog: pytest.LogCaptureFixture, websockets_handler: Collect
) -> None:
    from tests.test_upstream_words import BODIES, refusing

    caplog.set_level(logging.DEBUG)
    async with refusing(BODIES["json-message"]) as seen:
        r = await ask(seen[0], HI)
    assert r.status_code == 502
    lines = gateway_lines(caplog)
    assert any("< HTTP/1.1 403" in line for line in lines)
    for line in lines:
        for value in secrets_of(seen[1]):
            assert value not in line, line
    assert not [rec for rec in websockets_handler.records if rec.name == "websockets.client"]


def test_an_exception_is_shown_by_type_and_redacted_text_never_a_traceback() -> None:
    handler = Collect()
    target = logging.getLogger("tests.wire_log")
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    try:
        log = RedactingLogger(target, {})
        try:
            raise ValueError("ws://h/v3.5/chat?authorization=c2VjcmV0&date=now&host=h isn't valid")
        except ValueError:
            log.error("connect %s failed", "ws://h/chat?authorization=abc", exc_info=True)
    finally:
        target.removeHandler(handler)
    (record,) = handler.records
    assert record.exc_info is None
    assert FORMAT.format(record) == (
        "tests.wire_log ERROR connect ws://h/chat?authorization=**** failed (ValueError: "
        "ws://h/v3.5/chat?authorization=****&date=****&host=**** isn't valid)"
    )


def test_messages_below_the_level_are_not_even_formatted() -> None:
    class Loud:
        def __str__(self) -> str:
            raise AssertionError("formatted although DEBUG is off")

    target = logging.getLogger("tests.wire_log.quiet")
    target.setLevel(logging.INFO)
    RedactingLogger(target, {}).debug("%s", Loud())


def test_a_json_frame_shown_by_the_library_is_reduced_to_its_size() -> None:
    from websockets.frames import Frame, Opcode

    handler = Collect()
    target = logging.getLogger("tests.wire_log.frames")
    target.addHandler(handler)
    target.setLevel(logging.DEBUG)
    try:
        data = json.dumps({"header": {"app_id": APP_ID}}).encode()
        RedactingLogger(target, {}).debug("> %s", Frame(Opcode.TEXT, data))
    finally:
        target.removeHandler(handler)
    assert handler.records[0].getMessage() == f"> TEXT [{len(data)} bytes]"
