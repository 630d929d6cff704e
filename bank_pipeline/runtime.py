"""Wiring for entry points (CLI, Dagster, worker): one database URL, one pool, one store, one handler."""

from dataclasses import dataclass
from functools import cached_property

from psycopg_pool import ConnectionPool

from bank_pipeline.application import CommandBus, CommandHandler
from bank_pipeline.db import connect, database_url
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.db.migrations import migrate
from bank_pipeline.settings import get_settings
from bank_pipeline.store import EventStore


class SchemaNotMigrated(RuntimeError):
    pass


@dataclass
class Runtime:
    url: str
    pool_size: int = 8
    pool_timeout: float = 30.0  # seconds a caller waits for a connection (the API answers 503 sooner than this)

    @classmethod
    def open(
        cls, *, migrate_schema: bool = False, url: str | None = None, pool_size: int = 8, pool_timeout: float = 30.0
    ) -> "Runtime":
        url = url or database_url()
        with connect(url) as conn:
            if migrate_schema:
                migrate(conn)
            elif conn.execute("SELECT to_regclass('event_store.events')").fetchone()[0] is None:
                raise SchemaNotMigrated("the database has no event store yet: run `bank-pipeline db migrate` first")
        return cls(url, pool_size, pool_timeout)

    @cached_property
    def pool(self) -> ConnectionPool:
        return make_pool(self.url, max_size=self.pool_size, timeout=self.pool_timeout)

    @cached_property
    def store(self) -> EventStore:
        return EventStore(self.pool, partitions_ahead_months=get_settings().partitions_ahead_months)

    @cached_property
    def handler(self) -> CommandHandler:
        return CommandHandler(self.store)

    @cached_property
    def bus(self) -> CommandBus:
        """Group commit for a process serving many concurrent callers (the API): one committer, one append per
        group, so callers racing for the same account wait in line instead of losing races."""
        return CommandBus(self.handler)

    def close(self) -> None:
        if "bus" in self.__dict__:
            self.bus.close()
        if "pool" in self.__dict__:
            self.pool.close()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
