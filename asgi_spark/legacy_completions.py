"""Legacy Completions (``POST /v1/completions``): wire types, the translation into a chat
request, and the encoding of events as ``text_completion`` objects and chunks.  No I/O.

The prompt (a string, or a list of one string) becomes one user turn; ``max_tokens``, ``stop``,
``temperature``, ``top_p``, ``n``, ``user``, the penalties, ``seed`` and ``logit_bias`` go
across to the chat pipeline as they are, which honours, emulates or names them as for Chat
Completions.  What would change the answer's shape or meaning and cannot be given is refused
with a 400 naming the field: ``echo: true``, ``suffix``, ``best_of`` > 1, ``logprobs``, token
arrays, several prompts.  ``max_tokens`` left out means the model's budget (as in Chat), not
OpenAI's 16.  Reasoning (Spark X1) is not part of a text completion: only the answer is sent.

Shapes (checked against ``CreateCompletionResponse``): one ``id`` (``cmpl-`` + the upstream
session id) and ``created`` per answer, ``object: "text_completion"``; a stream sends one chunk
per upstream frame with the text so far added, ``finish_reason`` on the last, a usage chunk
(``choices: []``) with ``stream_options.include_usage``, then ``data: [DONE]``.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

import msgspec

from . import sse
from .errors import GatewayError, InvalidRequestError, UnsupportedParameterError, error_body
from .events import Batch
from .openai_types import (
    ChatCompletionRequest,
    ChatMessage,
    CompletionUsage,
    StreamOptions,
)
from .param_names import Renamer

# ------------------------------------------------------------------------------- request


class CompletionRequest(msgspec.Struct, kw_only=True):
    model: str
    prompt: str | list[Any] | None = None
    best_of: int | None = None
    echo: bool | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, Any] | None = None
    logprobs: int | None = None
    max_tokens: int | None = None
    n: int | None = None
    presence_penalty: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    suffix: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    #: Spark's own options (``extra_body={"spark": {...}}``), passed on as for Chat.
    spark: Any = None


def refuse(param: str, why: str) -> UnsupportedParameterError:
    return UnsupportedParameterError(f"'{param}' is not supported: {why}", param=param)


def translate(request: CompletionRequest) -> tuple[ChatCompletionRequest, Renamer]:
    """The chat request for ``request`` and the renaming of chat paths, or a 400."""
    if request.echo:
        raise refuse("echo", "the gateway does not echo the prompt; send echo false")
    if request.suffix:
        raise refuse("suffix", "Spark cannot insert text between a prompt and a suffix")
    if request.best_of is not None and request.best_of > 1:
        raise refuse("best_of", "Spark returns one answer per session; use n for several")
    if request.logprobs is not None:
        raise refuse("logprobs", "Spark does not return token log probabilities")
    chat = ChatCompletionRequest(
        model=request.model,
        messages=[ChatMessage(role="user", content=_prompt(request.prompt))],
        stream=request.stream,
        stream_options=request.stream_options,
        temperature=request.temperature,
        top_p=request.top_p,
        max_tokens=request.max_tokens,
        n=request.n,
        user=request.user,
        presence_penalty=request.presence_penalty,
        frequency_penalty=request.frequency_penalty,
        stop=request.stop,
        seed=request.seed,
        logit_bias=request.logit_bias,
        spark=request.spark,
    )
    return chat, rename


def rename(param: str) -> str | None:
    """Chat paths in this API's words: the one message is the ``prompt``."""
    if param == "messages" or param.startswith("messages["):
        return "prompt"
    return "max_tokens" if param == "max_completion_tokens" else None


def _prompt(prompt: str | list[Any] | None) -> str:
    if prompt is None:
        raise InvalidRequestError("'prompt' is required", param="prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidRequestError("'prompt' must not be empty", param="prompt")
        return prompt
    if prompt and all(isinstance(p, str) for p in prompt):
        raise refuse("prompt", "one prompt per request; send several requests")
    raise refuse("prompt", "token arrays cannot be sent to Spark; send the prompt as text")


# ------------------------------------------------------------------------------ response


class CompletionChoice(msgspec.Struct, kw_only=True):
    text: str
    index: int = 0
    logprobs: None = None
    finish_reason: str | None


class TextCompletion(msgspec.Struct, kw_only=True):
    id: str
    object: str = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage | msgspec.UnsetType | None = msgspec.UNSET


_encoder: Final = msgspec.json.Encoder()


def completion_id(response_id: str) -> str:
    return "cmpl-" + (response_id or uuid.uuid4().hex)


class CompletionEncoder:
    """Batches → ``text_completion`` chunks (:meth:`encode_batch`) or one object
    (:meth:`add` then :meth:`result`); with ``n`` > 1 one choice per answer, by the batches'
    ``choice``."""

    __slots__ = ("_created", "_finish", "_include_usage", "_model", "_text", "_usage", "id")

    def __init__(self, model: str, created: int, *, include_usage: bool = False) -> None:
        self._model = model
        self._created = created
        self._include_usage = include_usage
        self._text: dict[int, list[str]] = {}
        self._finish: dict[int, str] = {}
        self._usage: CompletionUsage | None = None
        self.id = completion_id("")

    def add(self, batch: Batch) -> None:
        if batch.started is not None:
            self.id = completion_id(batch.started)
        text = self._text.setdefault(batch.choice, [])
        if batch.content is not None:
            text.append(batch.content)
        if batch.finish is not None:
            self._finish[batch.choice] = batch.finish
        if batch.usage is not None:
            u = batch.usage
            self._usage = CompletionUsage(u.prompt_tokens, u.completion_tokens, u.total_tokens)

    def _object(
        self, choices: list[CompletionChoice], usage: CompletionUsage | msgspec.UnsetType | None
    ) -> TextCompletion:
        return TextCompletion(
            id=self.id, created=self._created, model=self._model, choices=choices, usage=usage
        )

    def encode_batch(self, batch: Batch) -> bytes:
        """SSE bytes for one folded batch (taken in with :meth:`add` as well)."""
        self.add(batch)
        out: list[bytes] = []
        usage: msgspec.UnsetType | None = None if self._include_usage else msgspec.UNSET
        if batch.content is not None or batch.finish is not None:
            choice = CompletionChoice(
                text=batch.content or "", index=batch.choice, finish_reason=batch.finish
            )
            out.append(sse.event(_encoder.encode(self._object([choice], usage))))
        if batch.usage is not None and self._include_usage:
            out.append(sse.event(_encoder.encode(self._object([], self._usage))))
        return b"".join(out)

    def result(self) -> TextCompletion:
        missing = set(self._text) - set(self._finish)
        if missing or not self._finish:
            raise RuntimeError("the answer has not finished")  # a bug, not an upstream fault
        choices = [
            CompletionChoice(text="".join(self._text[i]), index=i, finish_reason=self._finish[i])
            for i in sorted(self._text)
        ]
        return self._object(choices, self._usage or msgspec.UNSET)

    @staticmethod
    def error(error: GatewayError) -> bytes:
        return sse.event(error_body(error))


completion_decoder: Final = msgspec.json.Decoder(CompletionRequest)


def encode(completion: TextCompletion) -> bytes:
    return _encoder.encode(completion)


__all__ = [
    "CompletionEncoder",
    "CompletionRequest",
    "TextCompletion",
    "completion_decoder",
    "encode",
    "translate",
]
