"""Writes files into the landing zone under the contract's names, numbering each day's files of a kind, and
counts what it wrote."""

from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl

from bank_pipeline.ingest.landing import file_name

PARQUET_COMPRESSION = "snappy"  # what most producers use; twice as fast to write as polars' default zstd


class LandingWriter:
    def __init__(self, out: Path):
        self.out = out
        self.files: Counter[str] = Counter()  # by kind, version and format, e.g. transactions_v2_parquet
        self.records: Counter[str] = Counter()  # by kind, in original files (not in defective copies)
        self.bytes_written = 0
        self._sequences: Counter[tuple[date, str]] = Counter()

    def next_name(self, kind: str, version: int, day: date, extension: str) -> str:
        """The name reserve() would give next."""
        return file_name(kind, version, day, self._sequences[day, kind] + 1, extension)

    def reserve(self, kind: str, version: int, day: date, extension: str) -> Path:
        """The path of the day's next file of `kind` (sequence numbers count up from 1 per day and kind)."""
        self._sequences[day, kind] += 1
        self.files[f"{kind}_v{version}_{extension}"] += 1
        return self.out / file_name(kind, version, day, self._sequences[day, kind], extension)

    def write(self, path: Path, kind: str, content: pl.DataFrame | bytes, records: int | None = None) -> None:
        """Write a frame (as CSV or Parquet, by the path's extension) or raw bytes; `records` counts towards the
        kind (default: the frame's rows; 0 for a defective copy)."""
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif path.suffix == ".parquet":
            content.write_parquet(path, compression=PARQUET_COMPRESSION)
        else:
            content.write_csv(path)
        if records is None:
            records = content.height if isinstance(content, pl.DataFrame) else 0
        self.records[kind] += records
        self.bytes_written += path.stat().st_size
