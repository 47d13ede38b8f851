"""Fixtures: simulators on free loopback ports that must end each test with no connection open."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from asgi_spark.simulator import SparkSimulator

from .helpers import API_KEY, API_SECRET, APP_ID

FIXED_NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


async def _checked(sim: SparkSimulator) -> AsyncIterator[SparkSimulator]:
    async with sim:
        yield sim
        # No leak: every connection the test opened is closed by now (or very soon).
        await asyncio.wait_for(sim.wait_closed_all(), timeout=5)
        assert sim.open_connections == 0


@pytest.fixture
async def sim() -> AsyncIterator[SparkSimulator]:
    async for running in _checked(
        SparkSimulator(
            app_id=APP_ID,
            api_key=API_KEY,
            api_secret=API_SECRET,
            extra_endpoints={"/v1.1/chat_custom": "mydomain"},
        )
    ):
        yield running


@pytest.fixture
async def fixed_sim() -> AsyncIterator[SparkSimulator]:
    """A simulator whose clock is stopped at :data:`FIXED_NOW`."""
    async for running in _checked(
        SparkSimulator(
            app_id=APP_ID, api_key=API_KEY, api_secret=API_SECRET, clock=lambda: FIXED_NOW
        )
    ):
        yield running


@pytest.fixture
def make_sim() -> Callable[..., SparkSimulator]:
    """Build a simulator with the test credentials and other options (use ``async with``)."""

    def build(**options: object) -> SparkSimulator:
        options = {"app_id": APP_ID, "api_key": API_KEY, "api_secret": API_SECRET, **options}
        return SparkSimulator(**options)  # type: ignore[arg-type]

    return build
