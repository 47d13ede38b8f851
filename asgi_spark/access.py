"""Client keys: who may call the API, and which models each key may use.

With ``api_keys`` in the configuration (:mod:`asgi_spark.config.security`), every ``/v1/...``
route needs ``Authorization: Bearer <key>``; ``/healthz``, ``/readyz`` and CORS preflights stay
open.  Without it the API is open (bind it to loopback, or put it behind your own
authentication).

* A missing header, another scheme than ``Bearer``, or a key that is not one of ``api_keys``:
  401 ``invalid_api_key`` (OpenAI's body; the key sent is never echoed).
* The presented key is compared with every configured key, always all of them, by
  :func:`hmac.compare_digest` over SHA-256 digests: equal lengths, so neither the time taken
  nor an early exit tells a caller how much of a key matched, or which key.
* A key with ``models``: a chat request for another model is 403 ``model_not_allowed``;
  ``/v1/models`` lists only its models, and ``/v1/models/{id}`` of another is a 404 as if the
  model did not exist.

The key's *name* (never the key) goes into the request's
:attr:`~asgi_spark.pipeline.RequestContext.client_key`, the :class:`~asgi_spark.outcome.Outcome`
and the log line.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Sequence
from typing import Final

from starlette.datastructures import Headers

from .config.security import ClientKey
from .errors import AuthenticationError, ModelNotAllowedError, ModelNotFoundError

MISSING: Final = (
    "You didn't provide an API key. Send it in an Authorization header using Bearer auth "
    "(Authorization: Bearer YOUR_KEY)."
)
MALFORMED: Final = "The Authorization header must use Bearer auth (Authorization: Bearer YOUR_KEY)."
INCORRECT: Final = "Incorrect API key provided. Ask the gateway's operator for a valid key."


def identify(keys: Sequence[ClientKey] | None, headers: Headers) -> ClientKey | None:
    """The client key the request presents; ``None`` when the gateway needs none.

    Raises :class:`~asgi_spark.errors.AuthenticationError` for a missing, malformed or unknown
    key."""
    if keys is None:
        return None
    value = headers.get("authorization")
    if value is None:
        raise AuthenticationError(MISSING)
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError(MALFORMED)
    digest = hashlib.sha256(token.encode("latin-1")).digest()
    found: ClientKey | None = None
    for key in keys:  # every key, whatever matched before: the time says nothing
        if hmac.compare_digest(digest, key.digest):
            found = key
    if found is None:
        raise AuthenticationError(INCORRECT)
    return found


def visible(client: ClientKey | None, model_ids: Collection[str]) -> list[str]:
    """The served models ``client`` may see, in the configuration's order."""
    return [model for model in model_ids if client is None or client.allows(model)]


def admit(client: ClientKey | None, model_id: str, served: Collection[str], *, hide: bool) -> None:
    """Raise unless ``client`` may use ``model_id``.

    A model outside a key's ``models`` is a 403 ``model_not_allowed`` (``hide=False``: a chat
    request) or a 404 ``model_not_found`` (``hide=True``: ``/v1/models/{id}``); either message
    lists only the key's own models.  Without a restricted key nothing is checked here (the
    runtime's routing says 404 for a model it does not serve).
    """
    if client is None or client.models is None:
        return
    if model_id in client.models and model_id in served:
        return
    own = ", ".join(visible(client, served)) or "none"
    if hide or model_id in client.models:  # a listed model that is not served: unknown
        raise ModelNotFoundError(
            f"The model '{model_id}' does not exist on this gateway (available: {own})",
            param="model",
        )
    raise ModelNotAllowedError(
        f"This API key may not use the model '{model_id}' (it may use: {own}).",
        param="model",
    )


__all__ = ["INCORRECT", "MALFORMED", "MISSING", "admit", "identify", "visible"]
