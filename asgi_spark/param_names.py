"""Saying errors in the client's API: a translated request's failures name Chat Completions
paths (``messages[2].content[0]``, ``max_completion_tokens``); the Responses and Completions
endpoints rename them (``input[3].content[0]``, ``max_output_tokens``) before the client sees
them, in the error's ``param`` and in its message."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from .errors import GatewayError
from .events import Failed
from .pipeline import Source

#: Maps a Chat Completions parameter path (``messages[2].content[0]``, ``max_tokens``) to the
#: client's own (``input[3].content[0]``, ``max_output_tokens``), or ``None`` to keep it.
Renamer = Callable[[str], "str | None"]


def rename_error(error: GatewayError, rename: Renamer) -> None:
    """Say ``error`` in the client's API: its ``param`` and the quoted path in its message."""
    if not error.param:
        return
    renamed = rename(error.param)
    if renamed is None or renamed == error.param:
        return
    error.message = error.message.replace(f"'{error.param}'", f"'{renamed}'")
    error.args = (error.message,)
    error.param = renamed


async def renamed(source: Source, rename: Renamer) -> Source:
    """``source``, with the parameter paths of its failures (events and raised errors) renamed
    (see :func:`rename_error`).  Closing it closes ``source``."""
    try:
        async for batch in source:
            for event in batch:
                if isinstance(event, Failed):
                    rename_error(event.error, rename)
            yield batch
    except GatewayError as error:  # a request refused before any event (the adapter's mapping)
        rename_error(error, rename)
        raise
    finally:
        await source.aclose()


def chat_renamer(
    paths: Sequence[str], rules: Sequence[tuple[re.Pattern[str], str]], messages: str
) -> Renamer:
    """A :data:`Renamer` for a request translated into chat messages: ``messages[k]...`` →
    ``paths[k]...``, ``messages`` → ``messages``, then the first matching of ``rules``
    (a pattern and its replacement)."""

    def rename(param: str) -> str | None:
        if param == "messages":
            return messages
        if param.startswith("messages["):
            index, _, rest = param[len("messages[") :].partition("]")
            if index.isdigit() and int(index) < len(paths):
                return paths[int(index)] + rest
            return messages
        for pattern, replacement in rules:
            renamed, count = pattern.subn(replacement, param, count=1)
            if count:
                return renamed
        return None

    return rename


__all__ = ["Renamer", "chat_renamer", "rename_error", "renamed"]
