"""Secrets as a type: never shown by repr/str/format, only by reveal()."""

from __future__ import annotations

import pytest

from asgi_spark.secrets import MASK, Secret, redact

LONG = "MjlmNzkzNmZkMDQ2OTc0ZDdmNGE2ZTZi"
SHORT = "4f1a2b3c"


@pytest.mark.parametrize("value", [LONG, SHORT, "x"])
def test_repr_and_str_are_masked(value: str) -> None:
    secret = Secret(value)
    for shown in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "{}".format(secret),  # noqa: UP032
        repr([secret]),
        repr({"k": secret}),
    ):
        assert value not in shown
        assert MASK in shown


def test_nothing_of_the_value_is_shown() -> None:
    # not even a suffix: the mask is the same for every set value
    assert str(Secret(LONG)) == str(Secret(SHORT)) == MASK
    assert repr(Secret(LONG)) == f"Secret('{MASK}')"
    assert Secret(LONG).masked() == MASK


def test_an_empty_secret_shows_no_value_either() -> None:
    shown = str(Secret(""))
    assert shown and shown == Secret("").masked()
    assert repr(Secret("")) == f"Secret({shown!r})"


def test_reveal() -> None:
    assert Secret(LONG).reveal() == LONG


def test_equality_hash_and_truth() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2
    assert Secret("a")
    assert not Secret("")


def test_no_instance_dict_to_leak_through() -> None:
    secret = Secret(LONG)
    assert not hasattr(secret, "__dict__")
    with pytest.raises(AttributeError):
        secret.other = 1  # type: ignore[attr-defined]


def test_redact() -> None:
    text = f"app_id {SHORT} and secret {LONG} and again {SHORT}."
    assert redact(text, Secret(SHORT), Secret(LONG)) == (
        f"app_id {MASK} and secret {MASK} and again {MASK}."
    )
    assert redact(text, SHORT) == f"app_id {MASK} and secret {LONG} and again {MASK}."


def test_redact_ignores_empty_and_none() -> None:
    assert redact("abc", None, "", Secret("")) == "abc"
    assert redact("abc") == "abc"
