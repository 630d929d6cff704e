"""Typed resources, configured from the environment."""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from bank_pipeline.runtime import Runtime


class BankDatabase(dg.ConfigurableResource):
    """The bank's PostgreSQL. Empty `database_url` = BANK_PIPELINE_DATABASE_URL or the embedded server."""

    database_url: str | None = None

    @contextmanager
    def runtime(self) -> Iterator[Runtime]:
        with Runtime.open(url=self.database_url or None, pool_size=2) as runtime:
            yield runtime


def resources() -> dict[str, dg.ConfigurableResource]:
    return {"bank_db": BankDatabase(database_url=dg.EnvVar("BANK_PIPELINE_DATABASE_URL").get_value() or None)}
