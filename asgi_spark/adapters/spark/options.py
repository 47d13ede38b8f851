"""Spark's own request options, sent by clients as ``extra_body={"spark": {...}}``.

``top_k`` (1 to 6, Spark's sampling breadth), ``chat_id`` (Spark's session correlation id, at
most 64 characters; it does not make Spark keep history) and ``web_search`` (``true``,
``false``, or ``{"enable": bool, "show_ref_label": bool, "search_mode": "normal" | "deep"}``;
only on the versions that have it: Pro, Pro-128K, Max, Max-32K, 4.0 Ultra).  Anything else in
the block is a 400 naming it; so is a wrong type or range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from ...errors import InvalidRequestError
from .versions import SparkVersion

TOP_K_RANGE: Final = (1, 6)
MAX_CHAT_ID: Final = 64
SEARCH_MODES: Final = ("normal", "deep")
_KEYS: Final = ("top_k", "chat_id", "web_search")
_SEARCH_KEYS: Final = ("enable", "show_ref_label", "search_mode")


@dataclass(frozen=True, slots=True)
class SparkOptions:
    top_k: int | None = None
    chat_id: str | None = None
    web_search: dict[str, Any] | None = None  # Spark's tools[].web_search object

    @property
    def tools(self) -> list[dict[str, Any]] | None:
        """``parameter.chat.tools`` for the frame."""
        if self.web_search is None:
            return None
        return [{"type": "web_search", "web_search": self.web_search}]


def spark_options(raw: Any, version: SparkVersion) -> SparkOptions:
    """The checked options of the request's ``spark`` block (``None``: none)."""
    if raw is None:
        return SparkOptions()
    if not isinstance(raw, dict):
        raise _bad("spark", "must be an object, e.g. {'top_k': 4}")
    for key in raw:
        if key not in _KEYS:
            raise _bad(f"spark.{key}", f"is not a Spark option (known: {', '.join(_KEYS)})")
    top_k = raw.get("top_k")
    if top_k is not None and (
        isinstance(top_k, bool)
        or not isinstance(top_k, int)
        or not TOP_K_RANGE[0] <= top_k <= TOP_K_RANGE[1]
    ):
        raise _bad("spark.top_k", f"must be an integer from 1 to 6, not {top_k!r}")
    chat_id = raw.get("chat_id")
    if chat_id is not None and (
        not isinstance(chat_id, str) or not 0 < len(chat_id) <= MAX_CHAT_ID
    ):
        raise _bad("spark.chat_id", f"must be a string of 1 to {MAX_CHAT_ID} characters")
    return SparkOptions(top_k, chat_id, _web_search(raw.get("web_search"), version))


def _web_search(raw: Any, version: SparkVersion) -> dict[str, Any] | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise _bad("spark.web_search", "must be true, false or an object")
    for key in raw:
        if key not in _SEARCH_KEYS:
            raise _bad(
                f"spark.web_search.{key}", f"is not known (known: {', '.join(_SEARCH_KEYS)})"
            )
    search = {"enable": raw.get("enable", True), "show_ref_label": raw.get("show_ref_label", True)}
    for key in ("enable", "show_ref_label"):
        if not isinstance(search[key], bool):
            raise _bad(f"spark.web_search.{key}", "must be true or false")
    mode = raw.get("search_mode")
    if mode is not None:
        if mode not in SEARCH_MODES:
            raise _bad("spark.web_search.search_mode", "must be 'normal' or 'deep'")
        search["search_mode"] = mode
    if not version.web_search:
        raise _bad("spark.web_search", f"{version.product} has no web search")
    return search


def _bad(param: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"'{param}' {why}", param=param)


__all__ = ["SparkOptions", "spark_options"]
