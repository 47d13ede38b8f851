"""The suite is offline by construction: the guard refuses anything beyond loopback."""

from __future__ import annotations

import os
import socket

import pytest

from .offline import NetworkRefused


def test_connections_beyond_loopback_are_refused() -> None:
    with pytest.raises(NetworkRefused):
        socket.create_connection(("192.0.2.1", 443), timeout=1)  # TEST-NET-1: never reached
    with pytest.raises(NetworkRefused):
        socket.getaddrinfo("api.openai.com", 443)


def test_loopback_is_allowed() -> None:
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert socket.getaddrinfo("localhost", 80)


def test_tracing_and_telemetry_are_off() -> None:
    assert os.environ["OPENAI_AGENTS_DISABLE_TRACING"] == "1"
    assert os.environ["LANGSMITH_TRACING"] == "false"
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert "HTTPS_PROXY" not in os.environ and "OPENAI_BASE_URL" not in os.environ
