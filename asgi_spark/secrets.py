"""Secrets as a type: ``repr`` and ``str`` are masked so no log line, error or reprs can leak them.

Call :meth:`Secret.reveal` at the single place that needs the value (signing a URL, putting the
app id into a frame).  Everything else handles the opaque object.
"""

from __future__ import annotations

from typing import Final

MASK: Final = "****"


class Secret:
    """An opaque credential.  ``str(secret)`` and ``repr(secret)`` never show the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def masked(self) -> str:
        """What humans see: always ``****``, nothing of the value itself."""
        return MASK

    def __repr__(self) -> str:
        return f"Secret({self.masked()!r})"

    def __str__(self) -> str:
        return self.masked()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def redact(text: str, *secrets: Secret | str | None) -> str:
    """Replace every occurrence of the given secret values in ``text`` with ``****``."""
    for secret in secrets:
        if secret is None:
            continue
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            text = text.replace(value, MASK)
    return text
