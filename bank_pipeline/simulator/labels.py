"""Ground truth under `_labels/` (never ingested): fraud labels, injected defects, and a manifest of the run."""

import json
from datetime import date
from pathlib import Path

import polars as pl

from bank_pipeline.simulator.fraud import PATTERNS
from bank_pipeline.simulator.population import Population

LABELS_DIR = "_labels"
FRAUD_LABELS = "fraud_labels.csv"
BAD_RECORDS = "bad_records.csv"
MANIFEST = "manifest.json"
FRAUD_LABEL_COLUMNS = ("pattern", "record_id", "account_id", "day")
BAD_RECORD_COLUMNS = ("file", "record_id", "defect")


class FraudLabels:
    def __init__(self, population: Population):
        self._population = population
        self._frames: list[pl.DataFrame] = []

    def add(self, rows: pl.DataFrame, day: date) -> None:
        """The fraud rows among `rows` (columns record_id, pattern, subject)."""
        fraud = rows.filter(pl.col("pattern") >= 0)
        if fraud.height:
            self._frames.append(
                pl.DataFrame(
                    {
                        "pattern": pl.Series(PATTERNS).gather(fraud["pattern"].cast(pl.Int64)),
                        "record_id": fraud["record_id"],
                        "account_id": self._population.iban.gather(fraud["subject"].cast(pl.Int64)),
                        "day": [day.isoformat()] * fraud.height,
                    }
                )
            )

    def frame(self) -> pl.DataFrame:
        if not self._frames:
            return pl.DataFrame(schema=dict.fromkeys(FRAUD_LABEL_COLUMNS, pl.String))
        return pl.concat(self._frames)


def write_labels(out: Path, fraud: pl.DataFrame, bad: pl.DataFrame, manifest: dict) -> None:
    directory = out / LABELS_DIR
    directory.mkdir(exist_ok=True)
    fraud.select(FRAUD_LABEL_COLUMNS).write_csv(directory / FRAUD_LABELS)
    bad.select(BAD_RECORD_COLUMNS).write_csv(directory / BAD_RECORDS)
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def counts(frame: pl.DataFrame, column: str, keys: tuple[str, ...]) -> dict[str, int]:
    """How many rows have each of `keys` in `column` (0 for the absent ones)."""
    found = dict(frame.group_by(column).len().iter_rows()) if frame.height else {}
    return {key: int(found.get(key, 0)) for key in keys}
