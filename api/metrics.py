"""Prometheus metrics: request counts and latencies per route, and the queue's state.

Request metrics are counted in the process; the queue's length and the decisions are read from
the database when Prometheus scrapes, so they are right whichever process answers and whoever
decided (the JSON API or the specialists' pages). Each application has its own registry.
"""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from api.models import Case, CaseDecision


class _DatabaseCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[Metric]:
        cases = GaugeMetricFamily("iriis_cases", "Cases by status.", labels=["status"])
        decisions = CounterMetricFamily(
            "iriis_decisions", "Specialists' decisions by action.", labels=["action"]
        )
        with self.sessions() as session:
            for status, count in session.execute(
                select(Case.status, func.count()).group_by(Case.status)
            ):
                cases.add_metric([status], count)
            for action, count in session.execute(
                select(CaseDecision.action, func.count()).group_by(CaseDecision.action)
            ):
                decisions.add_metric([action], count)
            waiting = session.scalar(
                select(func.count()).where(Case.status.in_(("open", "claimed")))
            )
        yield cases
        yield decisions
        queue = GaugeMetricFamily("iriis_queue_length", "Cases waiting or claimed.")
        queue.add_metric([], waiting or 0)
        yield queue


class Metrics:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "iriis_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "iriis_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.registry.register(_DatabaseCollector(sessions))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
