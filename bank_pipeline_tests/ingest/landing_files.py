"""Small landing files written by hand for the ingestion tests (the simulator writes the big ones)."""

import csv
from pathlib import Path

from bank_pipeline.ingest.landing import ACCOUNT_COLUMNS, CUSTOMER_COLUMNS, TRANSACTION_COLUMNS

ADA = "DE89370400440532013000"
BOB = "DE62370400440532013001"
GBP_ACCOUNT = "DE35370400440532013002"


def write_csv(path: Path, columns: tuple[str, ...], rows: list[tuple]) -> Path:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def customers(directory: Path, day: str = "20261102", sequence: int = 1) -> Path:
    return write_csv(
        directory / f"customers_v1_{day}_{sequence:04d}.csv",
        CUSTOMER_COLUMNS,
        [
            ("ada", "Ada Lovelace", "ada@example.org", "12 St James's Sq", "verified"),
            ("bob", "Bob Smith", "bob@example.org", "1 High St", "verified"),
        ],
    )


def accounts(directory: Path, day: str = "20261102", sequence: int = 1) -> Path:
    return write_csv(
        directory / f"accounts_v1_{day}_{sequence:04d}.csv",
        ACCOUNT_COLUMNS,
        [
            (ADA, "ada", "EUR", "current", "5000"),
            (BOB, "bob", "EUR", "current", "0"),
            (GBP_ACCOUNT, "bob", "GBP", "current", "0"),
        ],
    )


def transaction(record_id: str, kind: str, account: str, amount: str, *, to: str = "", currency: str = "EUR",
                at: str = "2026-11-02T09:00:00+00:00") -> tuple:  # fmt: skip
    return (record_id, at, kind, account, to, "Counterparty Ltd", amount, currency, f"ref {record_id}")


def transactions(directory: Path, rows: list[tuple], day: str = "20261102", sequence: int = 1) -> Path:
    return write_csv(directory / f"transactions_v2_{day}_{sequence:04d}.csv", TRANSACTION_COLUMNS, rows)
