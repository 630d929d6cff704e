"""Dagster's own home for this project: runs, event logs and schedules kept in PostgreSQL (the database
`<bank database>_dagster` on the bank's server, never SQLite), so the demo, the CLI and `dagster dev` see the
same runs."""

from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bank_pipeline.db import connect, database_url
from bank_pipeline.db.databases import with_database
from bank_pipeline.settings import get_settings


def dagster_database(bank_url: str) -> str:
    """Dagster's database sits beside the bank's: `<bank database>_dagster`."""
    return f"{make_url(bank_url).database or 'postgres'}_dagster"


def dagster_storage_url(bank_url: str) -> str:
    """Dagster's storage URL beside the bank's database."""
    return storage_url_of(with_database(bank_url, dagster_database(bank_url)))


def storage_url_of(database_url: str) -> str:
    """`database_url` as Dagster's storage URL: dagster-postgres needs the psycopg2 driver named explicitly
    (with SQLAlchemy 2.1 a bare postgresql:// means psycopg 3, which breaks its NOTIFY-based event watching)."""
    return make_url(database_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def prepare_dagster_home() -> Path:
    """Create <home>/dagster with its dagster.yaml and Dagster's database if missing; returns the
    directory to use as DAGSTER_HOME."""
    server_url = database_url()
    _create_database_if_missing(server_url, dagster_database(server_url))
    home = get_settings().home.resolve() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    storage_url = dagster_storage_url(server_url).replace('"', '\\"')
    config = (
        "# Written by bank_pipeline (bank_pipeline/dagster_home.py): Dagster's storage on the bank's PostgreSQL.\n"
        "storage:\n"
        "  postgres:\n"
        f'    postgres_url: "{storage_url}"\n'
        "run_queue:\n"
        "  max_concurrent_runs: 4\n"
        "telemetry:\n"
        "  enabled: false\n"
    )
    config_file = home / "dagster.yaml"
    if not config_file.exists() or config_file.read_text() != config:
        config_file.write_text(config)
    return home


def _create_database_if_missing(server_url: str, name: str) -> None:
    with connect(with_database(server_url, "postgres")) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            try:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # created concurrently
