"""A business day's fraud alerts in figures: by rule and severity, what was done about them, and how long after
the triggering event's commit each was decided (the fast path's latency, from the alerts table itself)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

_BY_RULE = """
SELECT rule, severity, count(*), count(*) FILTER (WHERE action = 'frozen'), count(DISTINCT account_id),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM detected_at - recorded_at) * 1000),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM detected_at - recorded_at) * 1000)
  FROM fraud.alerts
 WHERE occurred_at >= %(day)s::date AND occurred_at < %(day)s::date + 1
 GROUP BY rule, severity ORDER BY rule, severity
"""


@dataclass(frozen=True)
class RuleFigures:
    rule: str
    severity: str
    alerts: int
    frozen: int  # accounts frozen because of these alerts
    accounts: int
    latency_p50_ms: float
    latency_p99_ms: float


def day_figures(conn: psycopg.Connection, day: date) -> list[RuleFigures]:
    """Per rule and severity, the alerts whose triggering event happened on `day` (UTC business day)."""
    with conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        rows = conn.execute(_BY_RULE, {"day": day}).fetchall()
    return [RuleFigures(rule, severity, n, frozen, accounts, float(p50), float(p99))
            for rule, severity, n, frozen, accounts, p50, p99 in rows]  # fmt: skip


def figures_markdown(figures: list[RuleFigures]) -> str:
    if not figures:
        return "No alerts on this day."
    lines = [
        "| rule | severity | alerts | accounts | frozen | latency p50 ms | p99 ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {f.rule} | {f.severity} | {f.alerts:,} | {f.accounts:,} | {f.frozen:,} | {f.latency_p50_ms:.1f} | "
        f"{f.latency_p99_ms:.1f} |"
        for f in figures
    ]
    return "\n".join(lines)
