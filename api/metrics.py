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
from api.services.load import lab_load
from api.settings import ApiSettings


class _DatabaseCollector(Collector):
    def __init__(self, sessions: sessionmaker[Session], settings: ApiSettings) -> None:
        self.sessions = sessions
        self.settings = settings

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
            load = lab_load(session, settings=self.settings)
        yield cases
        yield decisions
        queue = GaugeMetricFamily("iriis_queue_length", "Cases waiting or claimed.")
        queue.add_metric([], load.waiting)
        yield queue
        tiers = GaugeMetricFamily(
            "iriis_queue_length_by_tier", "Cases waiting or claimed, by tier.", labels=["tier"]
        )
        for tier in (0, 1, 2):
            tiers.add_metric([str(tier)], load.waiting_by_tier.get(tier, 0))
        yield tiers
        for name, text, value in (
            (
                "iriis_answered_today",
                "Cases answered today (the lab's time zone).",
                load.answered_today,
            ),
            ("iriis_capacity_cases_per_day", "The specialists' capacity.", load.capacity),
            ("iriis_pace_cases_per_day", "Answers per working day the waits follow.", load.pace),
            (
                "iriis_median_hours_to_answer",
                "Median hours from a case's opening to its answer, cases answered over 7 days.",
                load.median_hours_to_answer or 0.0,
            ),
            (
                "iriis_routed_share",
                "Share of the identifications of the last 7 days that opened a case.",
                load.routed_week,
            ),
        ):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], value)
            yield gauge


class Metrics:
    def __init__(self, sessions: sessionmaker[Session], settings: ApiSettings) -> None:
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
        self.registry.register(_DatabaseCollector(sessions, settings))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
