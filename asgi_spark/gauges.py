"""A :class:`Reading`: one value of a running gateway's state at the moment it is asked for.

Counters of what happened come from the :class:`~asgi_spark.outcome.Outcome` of each request;
what *is* (open streams, slots in use, a pool's idle and busy connections) is read when a
scrape asks, from the runtime (:meth:`asgi_spark.runtime.Runtime.readings`), which adds what
each adapter reports (:meth:`asgi_spark.adapters.base.Adapter.readings`; a pooling connector
reports its pool there).  :mod:`asgi_spark.metrics` turns readings into Prometheus gauges
named ``asgi_spark_<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Reading:
    """``name`` (snake case, no prefix) with ``labels`` is ``value`` now; ``help`` says what
    it is, the same for every reading of one name."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


__all__ = ["Reading"]
