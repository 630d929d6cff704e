"""Typed resources, configured from the environment."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from bank_pipeline.runtime import Runtime
from bank_pipeline.settings import get_settings
from bank_pipeline.statements.generation import check_formats
from bank_pipeline.statements.store import StatementStore

#: Connections per run: ingestion holds one for its file lock while its CommandBus decides on one and appends
#: on another, and the ledger writes need one more.
RUN_POOL_SIZE = 4


class BankDatabase(dg.ConfigurableResource):
    """The bank's PostgreSQL. Empty `database_url` = BANK_PIPELINE_DATABASE_URL or the embedded server."""

    database_url: str | None = None

    @contextmanager
    def runtime(self) -> Iterator[Runtime]:
        with Runtime.open(url=self.database_url or None, pool_size=RUN_POOL_SIZE) as runtime:
            yield runtime


class LandingZone(dg.ConfigurableResource):
    """Where upstream systems deliver files. Empty `path` = BANK_PIPELINE_LANDING_DIR or <home>/landing."""

    path: str | None = None
    #: Share of a file's rows that may be quarantined before its blocking check stops downstream assets.
    max_rejection_rate: float | None = None

    @property
    def directory(self) -> Path:
        return Path(self.path).resolve() if self.path else get_settings().landing_path

    @property
    def rejection_threshold(self) -> float:
        return self.max_rejection_rate if self.max_rejection_rate is not None else get_settings().max_rejection_rate


class StatementStoreResource(dg.ConfigurableResource):
    """Where statements are written. Empty `path` = BANK_PIPELINE_STATEMENT_DIR or <home>/statements; empty
    `formats` = BANK_PIPELINE_STATEMENT_FORMATS (all four by default)."""

    path: str | None = None
    formats: list[str] | None = None

    @property
    def store(self) -> StatementStore:
        return StatementStore(Path(self.path).resolve() if self.path else get_settings().statement_path)

    @property
    def chosen_formats(self) -> tuple[str, ...]:
        return check_formats(self.formats or get_settings().statement_formats.split(","))


def resources() -> dict[str, dg.ConfigurableResource]:
    """Both resources read their environment variables when they are used, so no value (a database password)
    is baked into the definitions the UI shows."""
    return {"bank_db": BankDatabase(), "landing_zone": LandingZone(), "statement_store": StatementStoreResource()}
