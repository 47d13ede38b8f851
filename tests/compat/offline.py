"""Offline by construction: the environment that turns every framework's telemetry, tracing
and downloads off, and a guard that refuses any connection or name lookup beyond loopback.

:func:`install` runs before any framework is imported (from ``conftest.py``).  A framework
that still tries to reach the network fails its test with :class:`NetworkRefused`, naming the
address, instead of silently depending on it.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import shutil
import socket
import tempfile
from typing import Any, Final

#: Set for the whole run (before the frameworks are imported).
ENVIRONMENT: Final = {
    "OPENAI_API_KEY": "unused-key",
    "OPENAI_AGENTS_DISABLE_TRACING": "1",
    "OPENAI_AGENTS_DONT_LOG_MODEL_DATA": "1",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "false",
    "OTEL_SDK_DISABLED": "true",
    "LOGFIRE_SEND_TO_LOGFIRE": "false",
    "NO_PROXY": "*",
    "no_proxy": "*",
}
#: Removed for the whole run: a proxy or an API key of the machine must not leak in.
REMOVED: Final = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LOGFIRE_TOKEN",
    "HF_TOKEN",
)


class NetworkRefused(OSError):
    """A connection or name lookup beyond loopback was attempted."""


def _loopback(host: Any) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def install() -> None:
    """Set :data:`ENVIRONMENT`, an empty tiktoken cache, and the loopback-only guard."""
    for name in REMOVED:
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)
    # tiktoken downloads its encodings on first use: an empty cache of our own makes any such
    # use hit the guard below instead of a machine-wide cache (tests must not need it).
    cache = tempfile.mkdtemp(prefix="asgi-spark-compat-tiktoken-")
    atexit.register(shutil.rmtree, cache, ignore_errors=True)  # nothing left in /tmp
    os.environ["TIKTOKEN_CACHE_DIR"] = cache

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            raise NetworkRefused(f"the compat suite is offline: refused to connect to {address}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _loopback(host.decode() if isinstance(host, bytes) else host):
            raise NetworkRefused(f"the compat suite is offline: refused to look up {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
