"""A tiny adapter plug-in "installed" without the network: a module and its ``*.dist-info``
(``METADATA`` + ``entry_points.txt``) in a temporary directory put on ``sys.path``.

That is exactly what ``pip install`` leaves in ``site-packages``, so
``importlib.metadata.entry_points(group="asgi_spark.adapters")`` finds it as it would a
pip-installed plug-in.  Each call uses a fresh module name, so tests never share a module.
"""

from __future__ import annotations

import itertools
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

_counter = itertools.count()

#: The plug-in's module: an echo adapter with a typed config block, as the README describes.
ECHO_PLUGIN = '''
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from asgi_spark import Exchange, WebSocketAdapter
from asgi_spark.config import SecretStr
from asgi_spark.events import ContentDelta, Finish, Started, Usage


class EchoConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """The echo plug-in's config block."""

    token: Annotated[SecretStr, Meta(description="sent to the echo server")]
    prefix: Annotated[str, Meta(max_length=20, description="put before every answer")] = ""


class EchoAdapter(WebSocketAdapter[dict]):
    name = "echo_ws"
    owned_by = "echo-plugin"
    config_type = EchoConfig

    def build_url(self) -> str:
        return self.entry.base_url + "/echo"

    def convert_request(self, request: Any) -> Exchange[dict]:
        config = self.entry.config
        frame = msgspec.json.encode(
            {"token": config.token.reveal(), "text": request.messages[-1].content}
        ).decode()
        return Exchange(frames=[frame], state={"done": False, "prefix": config.prefix})

    def parse_frame(self, data: Any, state: dict) -> list:
        state["done"] = True
        text = state["prefix"] + msgspec.json.decode(data)["echo"]
        return [Started("echo-1"), ContentDelta(text), Finish("stop"), Usage(1, 1, 2)]

    def is_complete(self, state: dict) -> bool:
        return state["done"]
'''


@dataclass(frozen=True)
class Plugin:
    directory: Path
    module: str
    adapter: str
    distribution: str


def install_plugin(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    adapter: str = "echo_ws",
    source: str = ECHO_PLUGIN,
    target: str = "EchoAdapter",
) -> Plugin:
    """Put a plug-in providing ``adapter`` (``module:target``) on ``sys.path`` for this test."""
    number = next(_counter)
    module = f"asgi_spark_test_plugin_{number}"
    distribution = f"asgi-spark-test-plugin-{number}"
    directory = tmp_path / f"site-packages-{number}"
    directory.mkdir()
    (directory / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    dist_info = directory / f"{distribution.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        f"[asgi_spark.adapters]\n{adapter} = {module}:{target}\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(directory))
    return Plugin(directory, module, adapter, distribution)
