"""`GET /metrics`: what the controller does, in Prometheus' format.

Counters end in `_total`, durations are histograms in `_seconds`, and labels are few and bounded:
an environment the branch mapping names (pull requests count under `pull_request`), a run's
kind and result, a forge. Never a commit, a user or a pull-request number. Each controller has
its own registry, so several can live in one process (tests) without mixing their numbers.
"""

from __future__ import annotations

PULL_REQUESTS = "pull_request"
"""The one `environment` label of every pull request's runs (their names are unbounded)."""


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.runs = Counter(
            "tidegate_runs_total",
            "Runs of the controller by environment, kind and result.",
            ["environment", "kind", "result"],
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "tidegate_run_duration_seconds",
            "How long runs take, by kind.",
            ["kind"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
            registry=self.registry,
        )
        self.drift = Gauge(
            "tidegate_drift_objects",
            "Objects of an environment's warehouse that differ from its recorded version.",
            ["environment"],
            registry=self.registry,
        )
        self.queue = Gauge("tidegate_queue_depth", "Runs waiting to start.", registry=self.registry)
        self.deliveries = Counter(
            "tidegate_webhook_deliveries_total",
            "Webhook deliveries by forge and result (accepted, ignored, duplicate, rejected).",
            ["forge", "result"],
            registry=self.registry,
        )

    def run_finished(self, environment: str, kind: str, result: str, seconds: float | None) -> None:
        self.runs.labels(environment=environment, kind=kind, result=result).inc()
        if seconds is not None:
            self.run_seconds.labels(kind=kind).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """(the text format, its content type)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
