"""instructor on the ``openai`` client: ``Mode.TOOLS`` and ``Mode.JSON`` (which need the
gateway's structured output and forced tool choice), and ``Mode.MD_JSON`` (JSON parsed from
the text).  (The newest instructor pins jiter<0.15, which openai >= 3.10 exceeds: it runs in
the ``compat-openai2`` venv.)"""

from __future__ import annotations

import pydantic
import pytest

instructor = pytest.importorskip(
    "instructor", reason="instructor runs in the compat-openai2 venv (it pins jiter<0.15)"
)

import openai  # noqa: E402

from .conftest import MODEL  # noqa: E402
from .directives import answer  # noqa: E402
from .pending import FORCED_TOOL_CHOICE, STRUCTURED_OUTPUT  # noqa: E402


class City(pydantic.BaseModel):
    name: str
    population: int


def client(base_url: str, mode: object) -> object:
    raw = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0)
    return instructor.from_openai(raw, mode=mode)


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("TOOLS", marks=FORCED_TOOL_CHOICE),
        pytest.param("JSON", marks=STRUCTURED_OUTPUT),
    ],
)
def test_structured_modes(base_url: str, mode: str) -> None:
    city = client(base_url, getattr(instructor.Mode, mode)).chat.completions.create(  # type: ignore[attr-defined]
        model=MODEL,
        response_model=City,
        max_retries=0,
        messages=[{"role": "user", "content": "Name a city."}],
    )
    assert isinstance(city, City)


def test_md_json_mode(base_url: str) -> None:
    directive = answer("```json\n" + '{"name": "Paris", "population": 2100000}' + "\n```")
    city = client(base_url, instructor.Mode.MD_JSON).chat.completions.create(  # type: ignore[attr-defined]
        model=MODEL,
        response_model=City,
        max_retries=0,
        messages=[{"role": "user", "content": f"Name a city. {directive}"}],
    )
    assert city.model_dump() == {"name": "Paris", "population": 2100000}
