"""The archive store: a directory (a plain path or file://) or any fsspec URI (s3://, gs://, memory://, ...).

Writes go to a temporary name beside the target and are moved into place once complete, so a reader never sees
half a file under its final name. Reads that name a sha256 refuse a file that does not match it.
"""

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import IO, Any

import fsspec

from bank_pipeline.archive.errors import ArchiveCorrupt, ArchiveError


class HashingWriter:
    """A write-only file that hashes what passes through it (pyarrow writes Parquet into it)."""

    def __init__(self, target: IO[bytes]):
        self._target, self._sha256, self._size, self.closed = target, hashlib.sha256(), 0, False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._sha256.update(view)
        self._target.write(view)
        self._size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def size(self) -> int:
        return self._size


class ArchiveStore:
    def __init__(self, uri: str):
        self.uri = str(uri)
        try:
            self.fs, root = fsspec.core.url_to_fs(self.uri)
        except (ValueError, ImportError) as error:
            raise ArchiveError(f"cannot open the archive store {self.uri!r}: {error}") from error
        self.root = root.rstrip("/")

    def __repr__(self) -> str:
        return f"ArchiveStore({self.uri!r})"

    # -- where a month's files live ------------------------------------------------------------------------------

    @staticmethod
    def month_directory(month: date) -> str:
        return f"events/{month:%Y}/{month:%m}"

    def parquet_key(self, month: date) -> str:
        return f"{self.month_directory(month)}/events_{month:%Y_%m}.parquet"

    def purged_parquet_key(self, month: date, purge_number: int) -> str:
        """The month's file after its `purge_number`th retention purge (archive/purge.py)."""
        return f"{self.month_directory(month)}/events_{month:%Y_%m}.purge-{purge_number}.parquet"

    def purge_manifest_key(self, month: date, purge_number: int) -> str:
        return f"{self.month_directory(month)}/events_{month:%Y_%m}.purge-{purge_number}.manifest.json"

    def manifest_key(self, month: date) -> str:
        return f"{self.month_directory(month)}/events_{month:%Y_%m}.manifest.json"

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def url(self, key: str) -> str:
        """The URI of `key` as it is recorded in event_store.archived_months."""
        return self.fs.unstrip_protocol(self.path(key))

    # -- reading and writing ------------------------------------------------------------------------------------

    @contextmanager
    def writing(self, key: str) -> Iterator[HashingWriter]:
        """A file to write `key` into; it appears under its name only when the block ends without error."""
        final = self.path(key)
        temporary = f"{final}.tmp-{uuid.uuid4().hex[:12]}"
        self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
        try:
            with self.fs.open(temporary, "wb") as target:
                writer = HashingWriter(target)
                yield writer
                self._make_durable(target)
            self.fs.mv(temporary, final)
            self._make_directory_durable(final)
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise

    # A month's partition is dropped right after its file is written: on a local disk the file and its name must be
    # on disk first, or a power cut could lose both copies. (Object stores acknowledge a write once it is durable.)
    def _make_durable(self, target: IO[bytes]) -> None:
        if self._is_local:
            target.flush()
            os.fsync(target.fileno())

    def _make_directory_durable(self, final: str) -> None:
        if self._is_local:
            directory = os.open(os.path.dirname(final), os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    @property
    def _is_local(self) -> bool:
        return "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def write_bytes(self, key: str, data: bytes) -> str:
        """Writes `data` atomically; returns its sha256 (hex)."""
        with self.writing(key) as writer:
            writer.write(data)
        return writer.sha256

    def remove_uri(self, uri: str) -> None:
        """Removes the file at `uri` (as recorded in the database) if it is still there."""
        fs, path = fsspec.core.url_to_fs(uri)
        if fs.exists(path):
            fs.rm(path)

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def read_bytes(self, key: str, sha256: str | None = None) -> bytes:
        """The file's bytes; with `sha256`, only if they hash to it (ArchiveCorrupt otherwise)."""
        try:
            data = self.fs.cat_file(self.path(key))
        except FileNotFoundError as error:
            raise ArchiveCorrupt(f"{self.url(key)} is missing from the archive store") from error
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise ArchiveCorrupt(
                f"{self.url(key)} does not match its recorded sha256 {sha256}: the file was changed or damaged"
            )
        return data
