"""COPY in both directions for a rebuild: the events out into polars, the computed tables back in.

Reading goes through libpq directly: psycopg's Copy object costs a few microseconds of Python per row
(one CopyData message per row), more than the server spends producing most rows. Waiting is done on the
socket, so the GIL is free while the server works and several reads can run at once from threads.
"""

from __future__ import annotations

import selectors
from collections.abc import Callable

import numpy as np
import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import errors, pq, sql

_WRITE_BLOCK = 1 << 20
_ROWS_PER_SLICE = 100_000


def copy_out(conn: psycopg.Connection, query: sql.Composable) -> bytes:
    """Everything `query` (a `COPY ... TO STDOUT`) sends, concatenated. `conn` must be idle."""
    received = bytearray()
    copy_out_to(conn, query, received.extend)
    return bytes(received)


def copy_out_to(conn: psycopg.Connection, query: sql.Composable, write: Callable[[bytes], object]) -> None:
    """Hand everything `query` (a `COPY ... TO STDOUT`) sends to `write`, a row (one CopyData message) at a
    time. `conn` must be idle."""
    pgconn = conn.pgconn
    with conn.lock:
        pgconn.send_query(query.as_bytes(conn))
        result = _next_result(pgconn)
        if result.status != pq.ExecStatus.COPY_OUT:
            _drain(pgconn)
            raise errors.error_from_result(result, encoding=conn.info.encoding)
        with selectors.DefaultSelector() as selector:
            selector.register(pgconn.socket, selectors.EVENT_READ)
            while True:
                size, data = pgconn.get_copy_data(1)  # non-blocking: 0 means "nothing buffered yet"
                if size > 0:
                    write(data)
                elif size == 0:
                    selector.select()
                    pgconn.consume_input()
                else:
                    break
        result = _next_result(pgconn)
        _drain(pgconn)
        if result.status != pq.ExecStatus.COMMAND_OK:
            raise errors.error_from_result(result, encoding=conn.info.encoding)


def _next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult:
    """The next result, waiting on the socket (not in libpq, which would hold the GIL)."""
    with selectors.DefaultSelector() as selector:
        selector.register(pgconn.socket, selectors.EVENT_READ)
        while pgconn.is_busy():
            selector.select()
            pgconn.consume_input()
    result = pgconn.get_result()
    if result is None:
        raise psycopg.OperationalError("the server sent no result")
    return result


def _drain(pgconn: pq.abc.PGconn) -> None:
    while pgconn.get_result() is not None:
        pass


# COPY's text format writes a backslash as \\, these control characters as \ and a letter, and NULL as \N.
_TEXT_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\b": "\b", "\\f": "\f", "\\v": "\v"}


def read_copy_text(data: bytes, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Rows COPYed out in the text format (cheaper for the server to write than CSV, which checks every
    character for quotes): tab-separated, NULL as \\N, backslash escapes decoded here."""
    if not data:
        return pl.DataFrame(schema=schema)
    frame = pl.read_csv(
        data, has_header=False, separator="\t", quote_char=None, null_values="\\N", empty_string_is_null=False,
        schema=schema,
    )  # fmt: skip
    escaped = [
        name
        for name, dtype in schema.items()
        if dtype == pl.String and frame[name].str.contains("\\", literal=True).any()
    ]
    return frame.with_columns(_unescape(pl.col(name)) for name in escaped)


def _unescape(text: pl.Expr) -> pl.Expr:
    # Escaped backslashes become NUL first (PostgreSQL text never holds one), so that a backslash followed
    # by a "t" is not read as a tab.
    text = text.str.replace_all("\\\\", "\0", literal=True)
    for escape, character in _TEXT_ESCAPES.items():
        text = text.str.replace_all(escape, character, literal=True)
    return text.str.replace_all("\0", "\\", literal=True)


def copy_in(conn: psycopg.Connection, table: sql.Composable, frame: pl.DataFrame, *, freeze: bool) -> None:
    """COPY every row of `frame` into `table`, whose columns it names, in COPY's binary format (PostgreSQL
    then parses no text: about half the server time of CSV). The rows are encoded a slice at a time, so the
    server stores one slice while the next is encoded. `freeze`: the rows are written frozen, visible to every
    snapshot at once (the table must have been created in the caller's open transaction)."""
    fixed, others = binary_layout(frame)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary, FREEZE {})").format(
        table, sql.SQL(", ").join(map(sql.Identifier, fixed + others)), sql.SQL("true" if freeze else "false")
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(_BINARY_SIGNATURE)
        for start in range(0, len(frame), _ROWS_PER_SLICE):
            rows = binary_rows(frame.slice(start, _ROWS_PER_SLICE), fixed, others)
            for block in range(0, len(rows), _WRITE_BLOCK):
                copy.write(rows[block : block + _WRITE_BLOCK])
        copy.write(_BINARY_TRAILER)


# -- COPY's binary format, built column by column ------------------------------------------------------------
# Per row: the field count (int16), then each field as its length (int32, -1 for NULL) and its bytes in
# PostgreSQL's binary form: big-endian integers, dates as days and timestamps as microseconds since
# 2000-01-01, text as its UTF-8. Fixed-width columns without NULLs are laid out together by numpy, each
# other column as its own array; pyarrow then joins the pieces row by row in one pass.

_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # + flags and header extension length, both 0
_BINARY_TRAILER = b"\xff\xff"
_NULL_FIELD = b"\xff\xff\xff\xff"
_POSTGRES_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01
_POSTGRES_EPOCH_MICROSECONDS = _POSTGRES_EPOCH_DAYS * 86_400 * 1_000_000


def binary_layout(frame: pl.DataFrame) -> tuple[list[str], list[str]]:
    """The columns laid out together by numpy (fixed-width, no NULL in the whole frame), then the others."""
    fixed = [name for name in frame.columns if frame[name].dtype != pl.String and frame[name].null_count() == 0]
    return fixed, [name for name in frame.columns if name not in fixed]


def binary_rows(frame: pl.DataFrame, fixed: list[str], others: list[str]) -> memoryview:
    """The rows of `frame` in COPY's binary format (without its header and trailer), the fields in the order
    of `fixed` then `others` (binary_layout of the whole table, so that every slice is laid out alike)."""
    if not len(frame):
        return memoryview(b"")
    layout = [("count", ">i2")] + [(name, [("size", ">i4"), ("value", _wire(frame[name]))]) for name in fixed]
    block = np.empty(len(frame), dtype=layout)
    block["count"] = len(fixed) + len(others)
    for name in fixed:
        block[name]["size"] = block.dtype[name]["value"].itemsize
        block[name]["value"] = _values(frame[name])
    pieces = [_fixed_width(block)] + [_field(frame[name]) for name in others]
    rows = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int64, count=len(rows) + 1, offset=rows.offset * 8)
    return memoryview(rows.buffers()[2])[offsets[0] : offsets[-1]]


def _wire(series: pl.Series) -> str:
    """The numpy type of the series' binary form."""
    if series.dtype in (pl.Int64, pl.Datetime("us", "UTC")):
        return ">i8"
    if series.dtype in (pl.Int32, pl.Date):
        return ">i4"
    raise TypeError(f"column {series.name}: no binary COPY form for {series.dtype}")


def _values(series: pl.Series) -> np.ndarray:
    """The series' values as PostgreSQL counts them (NULLs as 0, to be replaced by the NULL marker)."""
    values = series.to_physical().fill_null(0).to_numpy()
    if series.dtype == pl.Date:
        return values - _POSTGRES_EPOCH_DAYS
    if series.dtype == pl.Datetime("us", "UTC"):
        return values - _POSTGRES_EPOCH_MICROSECONDS
    return values


def _fixed_width(values: np.ndarray) -> pa.Array:
    """A large_binary array whose items are the rows of a structured numpy array, without copying it."""
    width = values.dtype.itemsize
    offsets = np.arange(0, (len(values) + 1) * width, width, dtype=np.int64)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(values)]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(values), buffers)


def _field(series: pl.Series) -> pa.Array:
    """One column's fields, each its length then its bytes, or the NULL marker."""
    if series.dtype == pl.String:
        text = series.to_arrow().cast(pa.large_binary())
        sizes = pc.binary_length(text).fill_null(0).to_numpy().astype(">i4")
        field = pc.binary_join_element_wise(_fixed_width(sizes), text, pa.scalar(b"", pa.large_binary()))
    else:
        sized = np.empty(len(series), dtype=[("size", ">i4"), ("value", _wire(series))])
        sized["size"] = sized.dtype["value"].itemsize
        sized["value"] = _values(series)
        field = _fixed_width(sized)
    if not series.null_count():
        return field
    return pc.if_else(series.is_not_null().to_arrow(), field, pa.scalar(_NULL_FIELD, pa.large_binary()))
