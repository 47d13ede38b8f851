"""instructor on the ``openai`` client: ``Mode.TOOLS`` (a forced tool choice), ``Mode.JSON``
(``response_format`` json_object) and ``Mode.MD_JSON`` (JSON parsed from the text).  (The
newest instructor pins jiter<0.15, which openai >= 3.10 exceeds: it runs in the
``compat-openai2`` venv.)"""

from __future__ import annotations

import pydantic
import pytest

instructor = pytest.importorskip(
    "instructor", reason="instructor runs in the compat-openai2 venv (it pins jiter<0.15)"
)

import openai  # noqa: E402

from .conftest import MODEL  # noqa: E402
from .directives import answer  # noqa: E402


class City(pydantic.BaseModel):
    name: str
    population: int


def client(base_url: str, mode: object) -> object:
    raw = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    return instructor.from_openai(raw, mode=mode)


def test_tools_mode(base_url: str) -> None:
    city = client(base_url, instructor.Mode.TOOLS).chat.completions.create(  # type: ignore[attr-defined]
        model=MODEL,
        response_model=City,
        max_retries=0,
        messages=[{"role": "user", "content": "Name a city."}],
    )
    assert isinstance(city, City)


@pytest.mark.parametrize("mode", ["JSON", "MD_JSON"])
def test_json_modes(base_url: str, mode: str) -> None:
    # The schema is in the prompt for the model to follow: the directive stands in for a model
    # that follows it.  Spark Lite has no function calling, so JSON mode is emulated there by an
    # instruction and a check that the answer is JSON (on Max the simulator would fill an empty
    # schema's function with {}).
    directive = answer({"name": "Paris", "population": 2100000})
    city = client(base_url, getattr(instructor.Mode, mode)).chat.completions.create(  # type: ignore[attr-defined]
        model="spark-lite",
        response_model=City,
        max_retries=0,
        messages=[{"role": "user", "content": f"Name a city. {directive}"}],
    )
    assert city.model_dump() == {"name": "Paris", "population": 2100000}
