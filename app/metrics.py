"""Prometheus metrics: counters the pipeline calls, and gauges read from the store at scrape.

Counters and the histogram live in each process. Under gunicorn (several web workers) and
huey (a separate worker process), a scrape of ``/metrics`` is answered by one web worker, so
without more it sees only that worker's counts, which then jump between scrapes. Set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by the web and worker processes of
one host (before they start): every process then writes its samples there and ``/metrics``
adds them up. The gauges (queue depth, findings by rule) are read from the queue and the
database at scrape time, so every process gives the same answer either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry()

EVENTS = Counter(
    "tightship_events",
    "Registry deliveries by sender and outcome (stored, ignored, rejected).",
    ["sender", "outcome"],
    registry=REGISTRY,
)
SCAN_SECONDS = Histogram(
    "tightship_scan_duration_seconds",
    "Time to analyze one platform image.",
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
PULL_REQUESTS = Counter(
    "tightship_pull_requests",
    "Fix outcomes by status: created, updated, held (by the PR limits), failed, ...",
    ["status"],
    registry=REGISTRY,
)
CHAT_FAILURES = Counter(
    "tightship_chat_failures",
    "Chat messages that could not be delivered, by channel type.",
    ["type"],
    registry=REGISTRY,
)


def event(sender: str, outcome: str, count: int = 1) -> None:
    """A delivery's events: outcome is stored, ignored or rejected."""
    if count:
        EVENTS.labels(sender=sender, outcome=outcome).inc(count)


def scan_seconds(seconds: float) -> None:
    SCAN_SECONDS.observe(seconds)


def pr(status: str) -> None:
    """One remediation outcome (FixOutcome.status): created, updated, held, ..."""
    PULL_REQUESTS.labels(status=status).inc()


def chat_failure(channel_type: str) -> None:
    CHAT_FAILURES.labels(type=channel_type).inc()


class ScrapeTimeGauges(Collector):
    """Gauges computed when scraped: queue depth and the current findings by rule."""

    def __init__(
        self, queue_depth: Callable[[], int], findings_by_rule: Callable[[], dict[str, int]]
    ) -> None:
        self.queue_depth = queue_depth
        self.findings_by_rule = findings_by_rule

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("tightship_queue_depth", "Jobs waiting in the queue.")
        depth.add_metric([], self.queue_depth())
        yield depth
        findings = GaugeMetricFamily(
            "tightship_findings",
            "Findings in the latest scans of the tracked images, by rule.",
            labels=["rule"],
        )
        for rule, count in sorted(self.findings_by_rule().items()):
            findings.add_metric([rule], count)
        yield findings


def exposition(gauges: Collector) -> bytes:
    """The text exposition: this process's (or all processes') counters, then the gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    scraped = CollectorRegistry()
    scraped.register(gauges)
    return generate_latest(counters) + generate_latest(scraped)
