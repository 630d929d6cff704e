"""Turn the errors an operator can act on into one clear line and a non-zero exit."""

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from bank_pipeline.db.connection import DatabaseUnavailable
from bank_pipeline.db.migrations import MigrationError
from bank_pipeline.domain.errors import DomainError
from bank_pipeline.fraud.configuration import InvalidFraudThresholds
from bank_pipeline.ingest.errors import IngestionError
from bank_pipeline.runtime import SchemaNotMigrated
from bank_pipeline.simulator import SimulationError
from bank_pipeline.store import EventStoreError

OPERATOR_ERRORS = (
    DatabaseUnavailable, MigrationError, SchemaNotMigrated, EventStoreError, DomainError, IngestionError,
    SimulationError, InvalidFraudThresholds,
)  # fmt: skip


def fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def operator_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except OPERATOR_ERRORS as error:
            prefix = f"[{error.code}] " if isinstance(error, DomainError) else ""
            fail(f"{prefix}{error}")
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            sys.exit(130)

    return wrapper
