"""SparkAdapter: the Spark protocol layer plugged into :class:`WebSocketAdapter`'s lifecycle.

The four hooks are one-liners over the I/O-free modules: :mod:`.auth` signs the URL,
:mod:`.request` builds the frame, :mod:`.translate` turns frames into events, and :mod:`.codes`
explains a refused handshake.
"""

from __future__ import annotations

import time
from typing import ClassVar

import msgspec

from ...clock import Clock
from ...config.schema import ModelEntry
from ...errors import GatewayError
from ...events import Event
from ...openai_types import ChatCompletionRequest
from ...secrets import redact
from ..base import Exchange, TextFrame, WebSocketAdapter, body_message
from . import codes, params
from .auth import UrlSigner
from .frames import encode_request
from .request import Target, build_request
from .settings import SparkConfig, SparkSettings
from .translate import Translator


class SparkAdapter(WebSocketAdapter[Translator]):
    """iFlytek Spark chat over WebSocket; one connection per request."""

    name = "websocket_xunfei"
    owned_by = "iflytek"
    #: The type of the entry's ``config`` block (the loader converts the block into it).
    config_type: ClassVar[type[msgspec.Struct]] = SparkConfig
    #: Frames reach the translator as UTF-8 bytes: msgspec decodes them without a str copy.
    raw_frames: ClassVar[bool] = True

    def __init__(self, entry: ModelEntry, *, clock: Clock = time.time) -> None:
        super().__init__(entry)
        self.settings = SparkSettings.from_entry(entry)
        self._clock = clock
        s = self.settings
        self._target = Target(
            app_id=s.app_id.reveal(),
            version=s.version,
            domain=s.domain,
            temperature=s.temperature,
            max_tokens=s.max_tokens,
            top_k=s.top_k,
            strict=entry.strict_params,
        )
        self._secrets = (s.app_id, s.api_key, s.api_secret)
        self._signer = UrlSigner(s.url, s.api_key, s.api_secret, clock=clock)

    def describe(self) -> dict[str, str]:
        s = self.settings
        return {
            **super().describe(),
            "url": s.url,
            "version": s.version.name,
            "domain": s.domain,
            "app_id": s.app_id.masked(),
            "api_key": s.api_key.masked(),
            "api_secret": s.api_secret.masked(),
        }

    @property
    def supports_functions(self) -> bool:
        return self._target.version.functions

    def ignored_params(self, request: ChatCompletionRequest) -> tuple[str, ...]:
        if self._target.strict:
            return ()
        return params.ignored_params(request, self._target.version)

    def build_url(self) -> str:
        return self._signer()  # signed once per second: the signature's resolution

    def convert_request(self, request: ChatCompletionRequest) -> Exchange[Translator]:
        spark = build_request(request, self._target)
        translator = Translator(spark.max_tokens, secrets=self._secrets)
        # Spark reads exactly one JSON *text* frame per connection (spec section 2).
        return Exchange(frames=[TextFrame(encode_request(spark.frame))], state=translator)

    def parse_frame(self, data: str | bytes, state: Translator) -> list[Event]:
        return state.feed_raw(data)

    def is_complete(self, state: Translator) -> bool:
        return state.terminal

    def on_close(self, state: Translator, code: int | None, reason: str) -> list[Event]:
        return state.feed_close(code, reason)

    def handshake_error(self, status: int, body: bytes) -> GatewayError:
        # body_message removes signed queries; the credentials themselves go here.
        return codes.handshake_error(status, redact(body_message(body), *self._secrets))
