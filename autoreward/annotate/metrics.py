"""The annotation server's Prometheus metrics (names as in docs/annotation.md), on a registry of their own.

Each server (app) gets its own `CollectorRegistry`, so several servers in one process (tests, a trainer with
its in-process server) never share or clash on metrics.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "autoreward_annotate"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
REQUEST_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
ERROR_KINDS = ("llm", "parse")


@dataclass(frozen=True)
class Metrics:
    """Counters, gauges and histograms of one annotation server; see `create`."""

    registry: CollectorRegistry
    queue_depth: Gauge  # items queued, not yet sent to the labeller
    in_flight: Gauge  # labeller calls under way
    batch_size: Histogram  # items per labeller call
    llm_calls: Counter  # labeller calls that returned an answer
    llm_latency: Histogram  # seconds per labeller call (failed ones included)
    cache_hits: Counter  # items answered from the store
    labels_stored: Counter  # labels committed to the store
    errors: Counter  # by kind: llm (a failed call), parse (an item the answer did not label)
    requests: Counter  # HTTP requests by path and status code
    request_seconds: Histogram  # by path: from the request reaching the app to its response sent

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> Metrics:
        """All the metrics, registered on `registry` (a new one by default)."""
        registry = registry if registry is not None else CollectorRegistry()
        errors = Counter(f"{PREFIX}_errors", "Failed labeller calls (llm) and unparsed items (parse)", ["kind"],
                         registry=registry)
        for kind in ERROR_KINDS:
            errors.labels(kind=kind)  # export zeros, so a dashboard sees the series before the first error
        return cls(
            registry=registry,
            queue_depth=Gauge(f"{PREFIX}_queue_depth", "Items queued for the labeller", registry=registry),
            in_flight=Gauge(f"{PREFIX}_in_flight", "Labeller calls in flight", registry=registry),
            batch_size=Histogram(f"{PREFIX}_batch_size", "Items per labeller call", buckets=BATCH_BUCKETS,
                                 registry=registry),
            llm_calls=Counter(f"{PREFIX}_llm_calls", "Labeller calls answered", registry=registry),
            llm_latency=Histogram(f"{PREFIX}_llm_latency_seconds", "Seconds per labeller call",
                                  buckets=LATENCY_BUCKETS, registry=registry),
            cache_hits=Counter(f"{PREFIX}_cache_hits", "Items answered from the store", registry=registry),
            labels_stored=Counter(f"{PREFIX}_labels_stored", "Labels committed to the store", registry=registry),
            errors=errors,
            requests=Counter(f"{PREFIX}_requests", "HTTP requests", ["path", "code"], registry=registry),
            request_seconds=Histogram(f"{PREFIX}_request_seconds", "Seconds from a request reaching the app to its "
                                      "response sent (the server's own share of the latency clients see)", ["path"],
                                      buckets=REQUEST_BUCKETS, registry=registry),
        )
