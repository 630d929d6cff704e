"""Reading part of an archive file, checked: its footer and the row groups a read needs, each against the sha256
recorded for it (event_store.archive_file_parts, sql/019), instead of the whole month's file against one sha256.

A month at full scale is tens of gigabytes; one stream's events sit in one or two row groups of a few megabytes
(the file is sorted by stream). The footer holds Parquet's metadata: every row group's byte range and its
statistics, which say which row groups can hold a stream. Once the footer is checked, the row groups it points at
are fetched by byte range and checked before pyarrow decodes them; a read that strays outside the checked bytes
fails (CheckedParts).
"""

import hashlib
import io
from dataclasses import dataclass

import fsspec
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq

from bank_pipeline.archive.errors import ArchiveCorrupt

PARQUET_MAGIC = b"PAR1"
FOOTER_TAIL_BYTES = 8  # the metadata's length (4 bytes, little-endian) and the magic


@dataclass(frozen=True)
class FileParts:
    parquet_sha256: bytes
    parquet_bytes: int
    footer_start: int
    footer_sha256: bytes
    row_group_sha256: bytes  # 32 bytes a row group, in order

    def row_group_digest(self, index: int) -> bytes:
        return self.row_group_sha256[32 * index : 32 * (index + 1)]

    @property
    def row_groups(self) -> int:
        return len(self.row_group_sha256) // 32


def row_group_range(metadata: pq.FileMetaData, index: int) -> tuple[int, int]:
    """[start, end) of the bytes of row group `index`: its column chunks, which Parquet writers lay out together."""
    group = metadata.row_group(index)
    starts, ends = [], []
    for column in range(group.num_columns):
        chunk = group.column(column)
        start = chunk.data_page_offset
        if chunk.dictionary_page_offset is not None and 0 < chunk.dictionary_page_offset < start:
            start = chunk.dictionary_page_offset
        starts.append(start)
        ends.append(start + chunk.total_compressed_size)
    return min(starts), max(ends)


def footer_start(data: bytes) -> int:
    if len(data) < 12 or data[:4] != PARQUET_MAGIC or data[-4:] != PARQUET_MAGIC:
        raise ArchiveCorrupt("not a Parquet file")
    return len(data) - FOOTER_TAIL_BYTES - int.from_bytes(data[-8:-4], "little")


def file_parts(data: bytes, sha256: bytes) -> FileParts:
    """The parts of a whole file and their checksums (written when the file is recorded); `sha256` is the whole
    file's, already checked by the caller that read it."""
    start = footer_start(data)
    metadata = pq.read_metadata(pa.BufferReader(data))
    digests = b"".join(
        hashlib.sha256(memoryview(data)[slice(*row_group_range(metadata, i))]).digest()
        for i in range(metadata.num_row_groups)
    )
    return FileParts(sha256, len(data), start, hashlib.sha256(data[start:]).digest(), digests)


def record_parts(conn: psycopg.Connection, parts: FileParts) -> None:
    """Records the file's parts; a row already there for the same file must say the same (ArchiveCorrupt)."""
    conn.execute(
        "INSERT INTO event_store.archive_file_parts (parquet_sha256, parquet_bytes, footer_start, footer_sha256, "
        "row_group_sha256) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (parquet_sha256) DO NOTHING",
        (parts.parquet_sha256, parts.parquet_bytes, parts.footer_start, parts.footer_sha256, parts.row_group_sha256),
    )
    if recorded_parts(conn, parts.parquet_sha256) != parts:
        raise ArchiveCorrupt(
            f"event_store.archive_file_parts already holds other checksums for the file {parts.parquet_sha256.hex()}"
        )


def recorded_parts(conn: psycopg.Connection, parquet_sha256: bytes) -> FileParts | None:
    row = conn.execute(
        "SELECT parquet_sha256, parquet_bytes, footer_start, footer_sha256, row_group_sha256 "
        "FROM event_store.archive_file_parts WHERE parquet_sha256 = %s",
        (parquet_sha256,),
    ).fetchone()
    return FileParts(*(bytes(v) if isinstance(v, memoryview) else v for v in row)) if row else None


class CheckedParts(io.RawIOBase):
    """A read-only file of `size` bytes of which only `parts` ({start: bytes}) are known: a read outside them fails."""

    def __init__(self, size: int, parts: dict[int, bytes]):
        self._size, self._parts, self._position = size, _joined(parts), 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def read(self, size: int = -1) -> bytes:
        size = self._size - self._position if size < 0 else size
        for start, data in self._parts.items():
            if start <= self._position and self._position + size <= start + len(data):
                at = self._position - start
                self._position += size
                return data[at : at + size]
        raise OSError(f"bytes {self._position}..{self._position + size} of the archive file were not checked")

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _joined(parts: dict[int, bytes]) -> dict[int, bytes]:
    """Adjacent parts as one, so that a read across their boundary is served."""
    runs: list[tuple[int, list[bytes]]] = []
    end = None
    for start in sorted(parts):
        if start == end:
            runs[-1][1].append(parts[start])
        else:
            runs.append((start, [parts[start]]))
        end = start + len(parts[start])
    return {start: b"".join(run) for start, run in runs}


class PartialFile:
    """An archive file read part by part over fsspec (range requests), each part checked against `parts`."""

    def __init__(self, uri: str, parts: FileParts):
        self.uri, self.parts = uri, parts
        self._fs, self._path = fsspec.core.url_to_fs(uri)
        footer = self._fetch(parts.footer_start, parts.parquet_bytes)
        if hashlib.sha256(footer).digest() != parts.footer_sha256:
            raise ArchiveCorrupt(f"{uri}: its footer does not match its recorded sha256: the file was changed")
        try:
            self.metadata = pq.read_metadata(pa.BufferReader(PARQUET_MAGIC + footer))
        except (pa.ArrowException, OSError) as error:
            raise ArchiveCorrupt(f"{uri}: its footer cannot be read: {error}") from error
        if self.metadata.num_row_groups != parts.row_groups:
            raise ArchiveCorrupt(f"{uri}: {self.metadata.num_row_groups} row groups, {parts.row_groups} recorded")
        self._checked = {parts.footer_start: footer}

    def _fetch(self, start: int, end: int) -> bytes:
        try:
            return self._fs.cat_file(self._path, start=start, end=end)
        except FileNotFoundError as error:
            raise ArchiveCorrupt(f"{self.uri} is missing from the archive store") from error

    def parquet_file(self, row_groups: list[int]) -> pq.ParquetFile:
        """The file, able to decode `row_groups` (fetched and checked here) and nothing else."""
        for index in row_groups:
            start, end = row_group_range(self.metadata, index)
            if start in self._checked:
                continue
            data = self._fetch(start, end)
            if hashlib.sha256(data).digest() != self.parts.row_group_digest(index):
                raise ArchiveCorrupt(f"{self.uri}: row group {index} does not match its recorded sha256")
            self._checked[start] = data
        source = pa.PythonFile(CheckedParts(self.parts.parquet_bytes, self._checked), mode="r")
        # No pre-buffering: it coalesces nearby ranges into one read, which could take in bytes not checked.
        return pq.ParquetFile(source, metadata=self.metadata, pre_buffer=False)
