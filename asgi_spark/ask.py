"""``asgi-spark ask "prompt"``: one question to a gateway, the answer streamed to the terminal.

The HTTP client is the standard library's (``urllib``), so the command needs nothing the core
install does not have.  Without ``--base-url`` the demo gateway is started in the process (on
a free loopback port, the built-in Spark simulator behind it) and stopped afterwards.

The answer goes to standard output as it arrives; X1's reasoning, when there is any, goes to
standard error.  Any failure (unreachable gateway, an OpenAI error, a stream that breaks or ends
without ``[DONE]``) prints the error's message on standard error and exits with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, TextIO
from urllib.parse import urlsplit

#: Seconds without a byte from the gateway before giving up.
READ_TIMEOUT = 300.0


class AskError(Exception):
    """What went wrong, in words for the terminal."""


def add_parser(commands: Any) -> None:
    ask = commands.add_parser(
        "ask",
        help="send one prompt to a gateway and stream the answer",
        description=(
            "Send one prompt to an OpenAI-compatible gateway and stream the answer to the "
            "terminal.  Without --base-url the demo gateway (the built-in Spark simulator) is "
            "started inside this process."
        ),
    )
    ask.add_argument("prompt", help="the question")
    ask.add_argument(
        "--base-url",
        default=None,
        help="the gateway's OpenAI base URL, e.g. http://127.0.0.1:8765/v1 (default: the demo)",
    )
    ask.add_argument(
        "--model", default=None, help="model id (default: the first model the gateway lists)"
    )
    ask.add_argument(
        "--api-key",
        default=os.environ.get("OPENAI_API_KEY"),
        help="sent as a bearer token (default: $OPENAI_API_KEY)",
    )
    ask.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        with _gateway(args.base_url) as base_url:
            model = args.model or _first_model(base_url, args.api_key)
            for text, reasoning in _stream(base_url, model, args.prompt, args.api_key):
                (sys.stderr if reasoning else sys.stdout).write(text)
                (sys.stderr if reasoning else sys.stdout).flush()
    except AskError as exc:
        print(f"\nasgi-spark ask: {exc}", file=sys.stderr)
        return 1
    print()
    return 0


@contextlib.contextmanager
def _gateway(base_url: str | None) -> Iterator[str]:
    if base_url is not None:
        yield _normalise(base_url)
        return
    from .background import BackgroundLoop, BackgroundServer
    from .gateway import Gateway

    logging.getLogger("asgi_spark").setLevel(logging.ERROR)
    print(
        "(no --base-url: the demo gateway answers, from the built-in Spark simulator)",
        file=sys.stderr,
    )
    loop = BackgroundLoop("asgi-spark-ask")
    server = BackgroundServer(Gateway(None), loop).start()
    try:
        yield server.url + "/v1"
    finally:
        server.stop()
        loop.close()


def _normalise(base_url: str) -> str:
    """``base_url`` without a trailing slash; a bare ``http://host:port`` gets ``/v1``."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AskError(f"--base-url must be an http:// or https:// URL, not {base_url!r}")
    url = base_url.strip().rstrip("/")
    return url if parts.path.strip("/") else url + "/v1"


def _request(url: str, api_key: str | None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=READ_TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise AskError(_http_error(exc)) from None
    except urllib.error.URLError as exc:
        raise AskError(f"cannot reach {url}: {exc.reason}") from None
    except OSError as exc:
        raise AskError(f"cannot reach {url}: {exc}") from None


def _http_error(exc: urllib.error.HTTPError) -> str:
    raw = exc.read().decode("utf-8", "replace")
    try:
        error = json.loads(raw)["error"]
        code = f", {error['code']}" if error.get("code") else ""
        return f"{error['message']} (HTTP {exc.code}{code})"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code} from {exc.url}: {raw[:300] or exc.reason}"


def _first_model(base_url: str, api_key: str | None) -> str:
    with _request(base_url + "/models", api_key) as response:
        try:
            models = json.load(response)["data"]
        except (ValueError, KeyError, TypeError):
            raise AskError(f"{base_url}/models did not answer with a model list") from None
    if not models:
        raise AskError(f"{base_url} serves no model")
    return str(models[0]["id"])


def _stream(
    base_url: str, model: str, prompt: str, api_key: str | None
) -> Iterator[tuple[str, bool]]:
    """(text, is_reasoning) pieces of the answer as they arrive."""
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": prompt}]}
    with _request(base_url + "/chat/completions", api_key, body) as response:
        yield from _events(response)


def _events(response: TextIO | Any) -> Iterator[tuple[str, bool]]:
    for raw in response:
        line = raw.decode("utf-8").strip() if isinstance(raw, bytes) else raw.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise AskError(f"the gateway sent an event that is not JSON: {data[:200]}") from None
        if "error" in chunk:
            error = chunk["error"]
            raise AskError(f"{error.get('message')} ({error.get('code') or error.get('type')})")
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("reasoning_content"):
                yield delta["reasoning_content"], True
            if delta.get("content"):
                yield delta["content"], False
    raise AskError("the answer ended without [DONE]: it is incomplete")


__all__ = ["add_parser", "run"]
