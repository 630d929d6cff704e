"""A business day's fraud alerts in figures: by rule and severity, what was done about them, how long after the
triggering event's commit each was decided (the fast path's latency, from the alerts table itself), and the
detection quality investigators measured: alerts confirmed as fraud or dismissed as legitimate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import psycopg

_BY_RULE = """
SELECT a.rule, a.severity, count(*), count(*) FILTER (WHERE a.action = 'frozen'), count(DISTINCT a.account_id),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a.detected_at - a.recorded_at) * 1000),
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM a.detected_at - a.recorded_at) * 1000),
       count(*) FILTER (WHERE v.verdict = 'fraud'), count(*) FILTER (WHERE v.verdict = 'legitimate')
  FROM fraud.alerts a JOIN fraud.alert_verdicts v USING (alert_id)
 WHERE a.occurred_at >= %(day)s::date AND a.occurred_at < %(day)s::date + 1
 GROUP BY a.rule, a.severity ORDER BY a.rule, a.severity
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
    confirmed: int = 0  # reviewed: fraud
    dismissed: int = 0  # reviewed: legitimate (false positives)

    @property
    def precision(self) -> float | None:
        """Of the reviewed alerts, the share that was fraud (None before any review)."""
        reviewed = self.confirmed + self.dismissed
        return self.confirmed / reviewed if reviewed else None


def overall_precision(figures: list[RuleFigures]) -> float | None:
    confirmed, dismissed = sum(f.confirmed for f in figures), sum(f.dismissed for f in figures)
    return confirmed / (confirmed + dismissed) if confirmed + dismissed else None


def day_figures(conn: psycopg.Connection, day: date) -> list[RuleFigures]:
    """Per rule and severity, the alerts whose triggering event happened on `day` (UTC business day)."""
    with conn.transaction():
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        rows = conn.execute(_BY_RULE, {"day": day}).fetchall()
    return [RuleFigures(rule, severity, n, frozen, accounts, float(p50), float(p99), confirmed, dismissed)
            for rule, severity, n, frozen, accounts, p50, p99, confirmed, dismissed in rows]  # fmt: skip


def figures_markdown(figures: list[RuleFigures]) -> str:
    if not figures:
        return "No alerts on this day."
    lines = [
        "| rule | severity | alerts | accounts | frozen | latency p50 ms | p99 ms | confirmed | dismissed "
        "| precision |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {f.rule} | {f.severity} | {f.alerts:,} | {f.accounts:,} | {f.frozen:,} | {f.latency_p50_ms:.1f} | "
        f"{f.latency_p99_ms:.1f} | {f.confirmed:,} | {f.dismissed:,} | "
        f"{'-' if f.precision is None else f'{f.precision:.2f}'} |"
        for f in figures
    ]
    return "\n".join(lines)
