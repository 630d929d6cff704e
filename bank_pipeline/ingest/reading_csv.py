"""CSV landing files read as text: every value a string, each record with the line it starts on."""

import csv
import gc
import io
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl

from bank_pipeline.ingest.reading_errors import RowProblems, UnreadableFile, require_columns
from bank_pipeline.ingest.reading_values import empty_as_null

CUT_OFF = "row: the file ends inside this row (no line break after it), so it may be cut off; the file looks truncated"


def read_csv_records(data: bytes, columns: tuple[str, ...]) -> tuple[pl.DataFrame, RowProblems]:
    """The records of a CSV file whose header names exactly `columns` (in any order): column "line" (the line
    each record starts on; the header is line 1) then `columns`, all text, empty values null.

    Rows are never dropped: a ragged row (too few or too many fields) or a last row cut off by a truncated
    upload comes out with its problem in the returned RowProblems, for validation to report with its line."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    positions = _column_positions(header, columns)
    width = len(header)
    lines: list[int] = []
    rows: list[list[str]] = []
    problems: RowProblems = {}
    last_line = reader.line_num
    with _no_cycle_collection():
        try:
            for row in reader:
                start, last_line = last_line + 1, reader.line_num
                if not row:  # a blank line
                    continue
                if len(row) != width:
                    problems[len(rows)] = [_ragged(len(row), width)]
                    row = (row + [""] * width)[:width]
                lines.append(start)
                rows.append(row)
        except csv.Error as error:
            raise UnreadableFile(f"not readable as CSV from line {last_line + 1}: {error}") from None
        values = list(zip(*rows, strict=True)) if rows else [()] * width
    if rows and not text.endswith(("\n", "\r")):
        problems.setdefault(len(rows) - 1, []).append(CUT_OFF)
    frame = pl.DataFrame(
        [pl.Series("line", lines, dtype=pl.Int64)]
        + [pl.Series(name, values[positions[name]], dtype=pl.String) for name in columns]
    )
    return empty_as_null(frame), problems


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    # Parsing allocates a million small acyclic objects; the cycle collector would rescan them over and over
    # (more than half the time of a 100 k row file) and could never free any of them.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _decode(data: bytes) -> str:
    if not data.strip():
        raise UnreadableFile("the file is empty: not even a header line")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        if error.end == len(data) and error.reason == "unexpected end of data":
            # A truncated upload can cut a multi-byte character in two; the row it is in gets flagged as cut off.
            return data[: error.start].decode("utf-8-sig")
        raise UnreadableFile(f"the file is not UTF-8 text: undecodable byte at offset {error.start}") from None


def _column_positions(header: list[str] | None, columns: tuple[str, ...]) -> dict[str, int]:
    if not header:
        raise UnreadableFile(f"the first line is not the expected CSV header {','.join(columns)!r}")
    require_columns(header, columns, "the CSV header is")
    return {name: header.index(name) for name in columns}


def _ragged(fields: int, width: int) -> str:
    if fields < width:
        return f"row: has {fields} of the {width} fields the header names; the missing ones are read as empty"
    return f"row: has {fields} fields but the header names {width}; a value may hold an unquoted comma"
