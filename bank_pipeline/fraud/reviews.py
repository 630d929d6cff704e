"""Investigators' verdicts on fraud alerts: confirmed fraud or legitimate. Reviews are append-only (a changed
verdict keeps the earlier one) and the newest one counts; per rule, they are the detector's measured precision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg

Verdict = Literal["fraud", "legitimate"]
VERDICTS: tuple[Verdict, ...] = ("fraud", "legitimate")


class UnknownAlert(LookupError):
    """No fraud alert has this id."""


@dataclass(frozen=True)
class Review:
    review_id: int
    alert_id: int
    verdict: Verdict
    reviewed_by: str
    reviewed_at: datetime


def review_alert(
    conn: psycopg.Connection, alert_id: int, verdict: Verdict, reviewed_by: str, note: str | None = None
) -> Review:
    """Record an investigator's verdict on an alert."""
    if verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not reviewed_by.strip():
        raise ValueError("a review needs the reviewer's name")
    with conn.transaction():
        if conn.execute("SELECT 1 FROM fraud.alerts WHERE alert_id = %s", (alert_id,)).fetchone() is None:
            raise UnknownAlert(f"no fraud alert {alert_id}: `bank-pipeline fraud alerts` lists them")
        row = conn.execute(
            "INSERT INTO fraud.alert_reviews (alert_id, verdict, reviewed_by, note) VALUES (%s, %s, %s, %s) "
            "RETURNING review_id, reviewed_at",
            (alert_id, verdict, reviewed_by.strip(), note),
        ).fetchone()
    return Review(row[0], alert_id, verdict, reviewed_by.strip(), row[1])
