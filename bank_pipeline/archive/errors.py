"""Typed errors of the archive. They are EventStoreErrors, so the CLI reports them as one line."""

from datetime import date

from bank_pipeline.store import EventStoreError


class ArchiveError(EventStoreError):
    pass


class MonthNotDue(ArchiveError):
    """The month is the current one or inside the hot window: it stays in PostgreSQL."""

    def __init__(self, month: date, reason: str):
        super().__init__(f"{month:%Y-%m} is not due for archiving: {reason}")
        self.month = month


class EventsNotFinal(ArchiveError):
    """The partition holds events of transactions that may still be running alongside later commits."""

    def __init__(self, month: date):
        super().__init__(
            f"{month:%Y-%m} holds events not below the read horizon (transactions not yet final): retry later"
        )
        self.month = month


class ArchiveCorrupt(ArchiveError):
    """A file in the archive store does not match the checksum recorded for it."""


class ArchiveMismatch(ArchiveError):
    """The archive and the partition disagree; names the first position where they do."""

    def __init__(self, month: date, message: str, global_position: int | None = None):
        where = f" at position {global_position}" if global_position is not None else ""
        super().__init__(f"{month:%Y-%m}: archive does not match the event store{where}: {message}")
        self.month, self.global_position = month, global_position


class PartitionChanged(ArchiveError):
    """The partition no longer holds what was exported and verified (the database refused to detach it)."""
