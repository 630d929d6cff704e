"""What the API measures for Prometheus, in a registry of its own per app (never the process-wide one, so several
apps in one process do not clash):

- `bank_pipeline_api_request_duration_seconds` (histogram): every request, labelled by method, route template
  (`/v1/accounts/{account_id}`, never the raw path, so the series stay few) and status;
- `bank_pipeline_api_requests_in_flight` (gauge);
- `bank_pipeline_projection_lag_seconds` / `_events` (gauges, read from the database at scrape time): how long the
  oldest committed event the read model has not applied yet has waited, and how many such events there are;
- `bank_pipeline_fraud_decision_latency_seconds` (summary, read at scrape time): from an event's commit to the
  fraud detector's alert on it (`detected_at - recorded_at`), over the alerts decided in the last hour: quantiles
  0.5 and 0.99 (NaN when there were none), `_count` and `_sum`. A window, not a cumulative counter: the alerts
  table is the record, the scrape only reads it;
- `bank_pipeline_database_up` (gauge): 1 when the scrape could read those figures, 0 when the database did not
  answer in time (the figures are then left out rather than reported stale).
"""

from __future__ import annotations

import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from psycopg_pool import ConnectionPool, PoolTimeout
from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bank_pipeline.store.records import Checkpoint

log = logging.getLogger(__name__)

DATABASE_TIMEOUT_SECONDS = 2.0  # waiting for a pooled connection, then for each statement: probes must answer fast
EVENTS_BEHIND_COUNTED_UP_TO = 1_000_000  # so a far-behind read model cannot make the count itself slow
FRAUD_LATENCY_WINDOW = "1 hour"
FRAUD_LATENCY_QUANTILES = (0.5, 0.99)
REQUEST_ID_HEADER = "X-Request-Id"
# What may be echoed into our headers and logs: visible ASCII with inner spaces, at most 200 characters (the rule
# the command endpoints apply to the X-Request-Id they record as the events' correlation id).
_ACCEPTABLE_REQUEST_ID = re.compile(r"[!-~]([ -~]{0,198}[!-~])?")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"

_LAG = """
-- The first event waiting in delivery order is the one waiting longest (give or take how long commits take).
SELECT c.transaction_id, c.global_position,
       (SELECT e.recorded_at FROM event_store.events e
         WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
           AND e.transaction_id < h.horizon
         ORDER BY e.transaction_id, e.global_position LIMIT 1),
       (SELECT count(*) FROM (SELECT FROM event_store.events e
                               WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
                                 AND e.transaction_id < h.horizon
                               LIMIT %(cap)s) behind),
       now()
  FROM projections.checkpoints c, (SELECT event_store.read_horizon() AS horizon) h
 WHERE c.projection = 'read_model'
"""

_FRAUD_LATENCY = """
WITH recent AS (
    SELECT extract(epoch FROM detected_at - recorded_at)::float8 AS seconds
      FROM fraud.alerts WHERE detected_at >= now() - %(window)s::interval
)
SELECT count(*), coalesce(sum(seconds), 0),
       percentile_cont(%(quantiles)s::float8[]) WITHIN GROUP (ORDER BY seconds)
  FROM recent
"""


@dataclass(frozen=True)
class ProjectionLag:
    """How far the read model trails the final (committed, below the read horizon) events, measured now."""

    checkpoint: Checkpoint
    seconds: float  # how long the oldest final event not applied yet has waited; 0 when caught up
    events: int  # final events not applied yet, counted up to EVENTS_BEHIND_COUNTED_UP_TO


@dataclass(frozen=True)
class FraudDecisionLatency:
    alerts: int
    total_seconds: float
    quantiles: dict[float, float]  # NaN when no alert was decided in the window


@contextmanager
def quick_read(pool: ConnectionPool, timeout: float = DATABASE_TIMEOUT_SECONDS) -> Iterator[psycopg.Connection]:
    """A read-only transaction that gives up after `timeout` seconds waiting for a connection or for a statement
    (PoolTimeout, or psycopg.errors.QueryCanceled which is an OperationalError)."""
    with pool.connection(timeout=timeout) as conn, conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (f"{int(timeout * 1000)}ms",))
        yield conn


def projection_lag(conn: psycopg.Connection) -> ProjectionLag:
    transaction_id, position, oldest_waiting, behind, now = conn.execute(
        _LAG, {"cap": EVENTS_BEHIND_COUNTED_UP_TO}
    ).fetchone()
    seconds = 0.0 if oldest_waiting is None else max(0.0, (now - oldest_waiting).total_seconds())
    return ProjectionLag(Checkpoint(transaction_id, position), seconds, behind)


def fraud_decision_latency(conn: psycopg.Connection) -> FraudDecisionLatency:
    alerts, total, values = conn.execute(
        _FRAUD_LATENCY, {"window": FRAUD_LATENCY_WINDOW, "quantiles": list(FRAUD_LATENCY_QUANTILES)}
    ).fetchone()
    values = values or [None] * len(FRAUD_LATENCY_QUANTILES)
    quantiles = {q: math.nan if v is None else float(v) for q, v in zip(FRAUD_LATENCY_QUANTILES, values, strict=True)}
    return FraudDecisionLatency(alerts, float(total), quantiles)


class DatabaseFigures:
    """The figures read from the database at scrape time (a custom collector: nothing is cached between scrapes)."""

    def __init__(self, pool_of: Callable[[], ConnectionPool | None]):
        self.pool_of = pool_of  # the app's pool exists only once its lifespan has started

    def describe(self) -> Iterator[Metric]:
        return iter(self._families(None, None))

    def collect(self) -> Iterator[Metric]:
        lag = latency = None
        pool = self.pool_of()
        if pool is not None:
            try:
                with quick_read(pool) as conn:
                    lag, latency = projection_lag(conn), fraud_decision_latency(conn)
            except (PoolTimeout, psycopg.Error) as error:
                log.warning("metrics: the database did not answer: %s", error)
        return iter(self._families(lag, latency))

    @staticmethod
    def _families(lag: ProjectionLag | None, latency: FraudDecisionLatency | None) -> list[Metric]:
        up = GaugeMetricFamily("bank_pipeline_database_up", "1 if this scrape could read the database, else 0")
        lag_seconds = GaugeMetricFamily(
            "bank_pipeline_projection_lag_seconds",
            "How long the oldest committed event the read model has not applied has waited (0: caught up)",
        )
        lag_events = GaugeMetricFamily(
            "bank_pipeline_projection_lag_events",
            f"Committed events the read model has not applied (counted up to {EVENTS_BEHIND_COUNTED_UP_TO:,})",
        )
        fraud = Metric(
            "bank_pipeline_fraud_decision_latency_seconds",
            f"From an event's commit to its fraud alert, over the alerts decided in the last {FRAUD_LATENCY_WINDOW}",
            "summary",
        )
        up.add_metric([], 0.0 if lag is None else 1.0)
        if lag is not None and latency is not None:
            lag_seconds.add_metric([], lag.seconds)
            lag_events.add_metric([], lag.events)
            for quantile, seconds in latency.quantiles.items():
                fraud.add_sample(fraud.name, {"quantile": str(quantile)}, seconds)
            fraud.add_sample(fraud.name + "_count", {}, latency.alerts)
            fraud.add_sample(fraud.name + "_sum", {}, latency.total_seconds)
        return [up, lag_seconds, lag_events, fraud]


class ApiMetrics:
    def __init__(self, pool_of: Callable[[], ConnectionPool | None]):
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "bank_pipeline_api_request_duration_seconds",
            "Time to answer a request, by method, route template and status",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "bank_pipeline_api_requests_in_flight", "Requests being answered right now", registry=self.registry
        )
        self.registry.register(DatabaseFigures(pool_of))

    def exposition(self) -> bytes:
        """The Prometheus text format. Reads the database (blocking): call it from a worker thread."""
        return generate_latest(self.registry)


class RequestMetricsMiddleware:
    """Times every request under its route template, counts those in flight, and gives every response an
    X-Request-Id: the caller's when it is a sane token, else a new uuid4 (also in `request.state.request_id`)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the client gets if the app raises before answering

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_request_id)
        finally:
            self.metrics.in_flight.dec()
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.request_duration.labels(method, route_template(scope), str(status)).observe(
                time.perf_counter() - started
            )


def incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _ACCEPTABLE_REQUEST_ID.fullmatch(text) else None
    return None


def route_template(scope: Scope) -> str:
    """The matched route's path template. FastAPI's routes leave themselves in the scope when they match;
    Starlette's own (the docs, /openapi.json) do not, so those are matched again here."""
    route = scope.get("route")
    if route is None and "app" in scope and hasattr(scope["app"], "router"):
        route = next((r for r in scope["app"].router.routes if r.matches(scope)[0] != Match.NONE), None)
    return getattr(route, "path", None) or UNMATCHED_ROUTE
