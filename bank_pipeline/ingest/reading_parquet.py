"""Parquet landing files read as text in the same normalised form as CSV."""

import io

import polars as pl

from bank_pipeline.ingest.reading_errors import UnreadableFile, first_line, require_columns
from bank_pipeline.ingest.reading_values import empty_as_null

_ISO_SECONDS = "%Y-%m-%dT%H:%M:%S%.f"  # %.f: the fraction only when there is one


def read_parquet_records(data: bytes, columns: tuple[str, ...]) -> pl.DataFrame:
    """Column "line" (the 1-based row number) then `columns` as text: integers as integers, zoned timestamps
    as ISO 8601 in UTC with "+00:00", timestamps without a zone as ISO 8601 without one (so validation rejects
    them rather than ingestion guessing a zone), dates as YYYY-MM-DD; empty values null."""
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as error:  # polars raises several error types for a damaged file; all mean the same here
        raise UnreadableFile(f"not a readable Parquet file (truncated or damaged?): {first_line(error)}") from None
    require_columns(frame.columns, columns, "the Parquet columns are")
    try:
        text = frame.select(_as_text(name, frame.schema[name]) for name in columns)
    except pl.exceptions.PolarsError as error:
        raise UnreadableFile(f"the Parquet columns cannot be read as text: {first_line(error)}") from None
    return empty_as_null(text.with_row_index("line", offset=1).with_columns(pl.col("line").cast(pl.Int64)))


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return column.dt.strftime(_ISO_SECONDS)
        return column.dt.convert_time_zone("UTC").dt.strftime(_ISO_SECONDS + "%:z")
    if isinstance(dtype, pl.Date):
        return column.dt.strftime("%Y-%m-%d")
    if dtype.is_nested() or isinstance(dtype, pl.Binary | pl.Object):
        raise UnreadableFile(f"the Parquet column {name} holds {dtype} values, not single values that read as text")
    return column.cast(pl.String)
