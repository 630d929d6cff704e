"""Business days in the bank's local time zone, and the instants of local seconds within them."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from bank_pipeline.simulator.profile import TIME_ZONE

LOCAL = ZoneInfo(TIME_ZONE)
ISO_WITH_OFFSET = "%Y-%m-%dT%H:%M:%S%:z"  # booked_at in v2 files, DtTm in camt.054
LEGACY_UTC = "%Y-%m-%d %H:%M:%S"  # booking_time in legacy v1 files


@dataclass(frozen=True)
class DayClock:
    day: date
    midnight_us: int  # local midnight as microseconds since the Unix epoch
    seconds_in_day: int  # 86,400, or 82,800 / 90,000 when the clocks change

    @classmethod
    def of(cls, day: date) -> "DayClock":
        # In UTC: subtracting two datetimes of the same zone would ignore a change of offset between them.
        midnight = datetime.combine(day, time(), LOCAL).astimezone(UTC)
        next_midnight = datetime.combine(day + timedelta(days=1), time(), LOCAL).astimezone(UTC)
        length = int((next_midnight - midnight).total_seconds())
        epoch_us = (midnight - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        return cls(day, epoch_us, length)

    @property
    def compact(self) -> str:
        return f"{self.day:%Y%m%d}"

    def instants(self, seconds: pl.Expr) -> pl.Expr:
        """Local seconds of this day (clamped to the day's length) as UTC datetimes."""
        clamped = seconds.cast(pl.Int64).clip(0, self.seconds_in_day - 1)
        return (pl.lit(self.midnight_us) + clamped * 1_000_000).cast(pl.Datetime("us", "UTC"))

    def local_text(self, hour: int, minute: int = 0) -> str:
        """An ISO 8601 local time of this day with its UTC offset, e.g. 2026-11-02T22:00:00+01:00."""
        return datetime.combine(self.day, time(hour, minute), LOCAL).isoformat()


def local_text(instants: pl.Expr) -> pl.Expr:
    return instants.dt.convert_time_zone(TIME_ZONE).dt.strftime(ISO_WITH_OFFSET)
