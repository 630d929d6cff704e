"""Reading a landing file into normalised records: one row per record received, every value as text.

Parsing never judges values (that is validation's job), so a malformed value reaches validation exactly as
received and is quarantined with a reason; only a file that cannot be parsed at all comes out `unreadable`.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from bank_pipeline.ingest.landing import (
    ACCOUNT_COLUMNS,
    CUSTOMER_COLUMNS,
    LEGACY_TRANSACTION_COLUMNS,
    TRANSACTION_COLUMNS,
    LandingFile,
    recognise,
)
from bank_pipeline.ingest.reading_csv import read_csv_records
from bank_pipeline.ingest.reading_errors import RowProblems, UnreadableFile
from bank_pipeline.ingest.reading_iso20022 import CAMT054_COLUMNS, PAIN001_COLUMNS, read_camt054, read_pain001
from bank_pipeline.ingest.reading_parquet import read_parquet_records
from bank_pipeline.ingest.reading_values import legacy_transactions_as_v2

RECORD_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": CUSTOMER_COLUMNS,
    "accounts": ACCOUNT_COLUMNS,
    "transactions": TRANSACTION_COLUMNS,
    "pain001": PAIN001_COLUMNS,
    "camt054": CAMT054_COLUMNS,
}


@dataclass(frozen=True)
class ParsedFile:
    """A landing file's records: column "line" (Int64: the CSV line a record starts on, the header being line 1;
    for Parquet the 1-based row number; for XML the 1-based ordinal of the transaction or entry element) then
    RECORD_COLUMNS[kind], all text, null when absent or empty."""

    landing: LandingFile
    records: pl.DataFrame
    unreadable: str | None  # why the file could not be parsed at all; records are then empty
    content_sha256: str  # of the file's bytes: a whole file delivered again has the same digest
    # Problems of single records found while reading (0-based index -> reasons), e.g. the cut-off last row of a
    # truncated CSV; validate() reports them as failures of those rows.
    row_problems: RowProblems = field(default_factory=dict)
    size_bytes: int = 0  # of the bytes read (not a later stat(): upstream may still be writing the file)


Reader = Callable[[bytes], tuple[pl.DataFrame, RowProblems]]


def _csv(columns: tuple[str, ...]) -> Reader:
    return lambda data: read_csv_records(data, columns)


def _legacy_transactions(data: bytes) -> tuple[pl.DataFrame, RowProblems]:
    frame, problems = read_csv_records(data, LEGACY_TRANSACTION_COLUMNS)
    return legacy_transactions_as_v2(frame), problems


def _parquet(columns: tuple[str, ...]) -> Reader:
    return lambda data: (read_parquet_records(data, columns), {})


#: (kind, schema version, extension) -> reader; landing.recognise admits no other combination.
_READERS: dict[tuple[str, int, str], Reader] = {
    ("customers", 1, "csv"): _csv(CUSTOMER_COLUMNS),
    ("accounts", 1, "csv"): _csv(ACCOUNT_COLUMNS),
    ("transactions", 1, "csv"): _legacy_transactions,
    ("transactions", 2, "csv"): _csv(TRANSACTION_COLUMNS),
    ("transactions", 2, "parquet"): _parquet(TRANSACTION_COLUMNS),
    ("pain001", 1, "xml"): read_pain001,
    ("camt054", 1, "xml"): read_camt054,
}


def read_landing_file(path: Path) -> ParsedFile:
    """Parse the landing file at `path`. Raises ValueError when its name is not a landing file's."""
    landing = recognise(path)
    if landing is None:
        raise ValueError(f"{Path(path).name!r} is not a landing file name (<kind>_v<version>_<YYYYMMDD>_<seq>.<ext>)")
    data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    columns = RECORD_COLUMNS[landing.kind]
    try:
        frame, problems = _READERS[(landing.kind, landing.schema_version, landing.extension)](data)
    except UnreadableFile as error:
        return ParsedFile(landing, empty_records(landing.kind), str(error), digest, size_bytes=len(data))
    return ParsedFile(landing, frame.select("line", *columns), None, digest, problems, len(data))


def empty_records(kind: str) -> pl.DataFrame:
    return pl.DataFrame(schema={"line": pl.Int64, **dict.fromkeys(RECORD_COLUMNS[kind], pl.String)})
