"""Prometheus metrics of a gateway, fed by the :class:`~asgi_spark.outcome.Outcome` of each
request and, at scrape time, by the runtime's readings (:mod:`asgi_spark.gauges`).

Needs the ``metrics`` extra (``pip install 'asgi-spark[metrics]'``, i.e. ``prometheus-client``);
nothing else in the package imports this module.  ``asgi-spark serve`` serves it at
``GET /metrics``.  A host that mounts the gateway registers the collector in its own registry::

    from prometheus_client import REGISTRY
    from asgi_spark.metrics import GatewayMetrics

    REGISTRY.register(GatewayMetrics(gateway))   # observes every request from now on

Counters and histograms (all prefixed ``asgi_spark_``; ``model`` is the model the client asked
for, ``other`` for a name the gateway does not serve):

* ``requests_total{model, endpoint, status, stream}``;
* ``request_duration_seconds{model, stream}`` and ``time_to_first_token_seconds{model, stream}``;
* ``prompt_tokens_total{model}``, ``completion_tokens_total{model}``;
* ``upstream_errors_total{model, code, phase}``: ``code`` is Spark's code when Spark sent one,
  else the gateway's (``upstream_closed``, ``upstream_unavailable``, ...); ``phase`` is the
  timeout's phase (``connect``, ``first_frame``, ``idle``, ``total``, ``acquire``), else
  ``before_answer`` (nothing reached the client) or ``during_answer`` (a stream broke);
* ``retries_total{model}``, ``fallbacks_total{model}``, ``limit_rejections_total{model}``;
* ``client_disconnects_total{model}``: the client went away before the answer was complete.

Gauges, read from the runtime serving now: ``in_flight_requests``, ``open_streams``,
``limit_slots{limit}``, ``limit_slots_in_use{limit}``, and whatever adapters report (a pool's
connections, labelled with ``model``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Final

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from .outcome import Outcome

if TYPE_CHECKING:
    from .gateway import Gateway

NAMESPACE: Final = "asgi_spark"
#: Seconds; Spark answers take from a fraction of a second to minutes.
DURATION_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
FIRST_TOKEN_BUCKETS: Final = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)


#: The children of one label set: requests, duration, first token, prompt and completion tokens.
_Children = tuple[Counter, Histogram, Histogram, Counter, Counter]


class GatewayMetrics:
    """A Prometheus collector for ``gateway``: it observes every request's outcome (it adds
    itself to ``gateway.observers``) and reads the runtime when collected."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, namespace=NAMESPACE, registry=None)

        def histogram(name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
            return Histogram(
                name, doc, ("model", "stream"), namespace=NAMESPACE, registry=None, buckets=buckets
            )

        self.requests = counter(
            "requests", "requests answered", ("model", "endpoint", "status", "stream")
        )
        self.duration = histogram(
            "request_duration_seconds", "time to answer a request", DURATION_BUCKETS
        )
        self.first_token = histogram(
            "time_to_first_token_seconds",
            "time from the request to the first token sent",
            FIRST_TOKEN_BUCKETS,
        )
        self.prompt_tokens = counter("prompt_tokens", "prompt tokens, as Spark counts", ("model",))
        self.completion_tokens = counter(
            "completion_tokens", "completion tokens, as Spark counts", ("model",)
        )
        self.upstream_errors = counter(
            "upstream_errors", "failures of the upstream", ("model", "code", "phase")
        )
        self.retries = counter("retries", "retries made by the retry policy", ("model",))
        self.fallbacks = counter(
            "fallbacks", "models tried next by the fallback policy", ("model",)
        )
        self.limit_rejections = counter(
            "limit_rejections", "requests refused by a max_concurrency limit", ("model",)
        )
        self.disconnects = counter(
            "client_disconnects", "clients that went away before the answer ended", ("model",)
        )
        self._own = (
            self.requests,
            self.duration,
            self.first_token,
            self.prompt_tokens,
            self.completion_tokens,
            self.upstream_errors,
            self.retries,
            self.fallbacks,
            self.limit_rejections,
            self.disconnects,
        )
        #: The children of the per-request metrics by (model, endpoint, status, stream).
        self._children: dict[tuple[str, str, int, bool], _Children] = {}
        gateway.observers.append(self.observe)

    def observe(self, outcome: Outcome) -> None:
        """Count one finished request."""
        o = outcome
        model = o.requested_model if o.requested_model in self._gateway.models else "other"
        key = (model, o.endpoint, o.status, o.stream)
        children = self._children.get(key)
        if children is None:  # a label set's children are found once, not per request
            stream = "true" if o.stream else "false"
            children = self._children[key] = (
                self.requests.labels(model, o.endpoint, str(o.status), stream),
                self.duration.labels(model, stream),
                self.first_token.labels(model, stream),
                self.prompt_tokens.labels(model),
                self.completion_tokens.labels(model),
            )
        requests, duration, first_token, prompt_tokens, completion_tokens = children
        requests.inc()
        duration.observe(o.duration)
        if o.time_to_first_byte is not None:
            first_token.observe(o.time_to_first_byte)
        if o.prompt_tokens:
            prompt_tokens.inc(o.prompt_tokens)
        if o.completion_tokens:
            completion_tokens.inc(o.completion_tokens)
        if o.upstream_code is not None or (o.error_code or "").startswith("upstream_"):
            code = str(o.upstream_code) if o.upstream_code is not None else str(o.error_code)
            phase = o.timeout_phase or (
                "before_answer" if o.time_to_first_byte is None else "during_answer"
            )
            self.upstream_errors.labels(model, code, phase).inc()
        if o.retries:
            self.retries.labels(model).inc(o.retries)
        if o.fallbacks:
            self.fallbacks.labels(model).inc(o.fallbacks)
        if o.limit_rejected:
            self.limit_rejections.labels(model).inc()
        if o.cancelled:
            self.disconnects.labels(model).inc()

    def collect(self) -> Iterator[Metric]:
        for metric in self._own:
            yield from metric.collect()
        runtime = self._gateway.runtime
        if runtime is None:
            return
        families: dict[str, GaugeMetricFamily] = {}
        samples: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for reading in runtime.readings():
            labels = dict(reading.labels)
            if reading.name not in families:
                families[reading.name] = GaugeMetricFamily(
                    f"{NAMESPACE}_{reading.name}", reading.help, labels=sorted(labels)
                )
            samples[reading.name].append((labels, reading.value))
        for name, family in families.items():
            for labels, value in samples[name]:
                family.add_metric([labels[key] for key in sorted(labels)], value)
            yield family


__all__ = ["GatewayMetrics"]
