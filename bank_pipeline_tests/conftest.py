"""Every test runs against a real PostgreSQL: the embedded one by default, BANK_PIPELINE_DATABASE_URL when set.

The session migrates a template database once; `database_url` is a session-wide copy of it and
`fresh_database_url` a per-test copy for tests that need an empty store (totals, tampering).
"""

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db import database_url as configured_database_url
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.db.databases import create_database, drop_database, with_database
from bank_pipeline.db.migrations import migrate
from bank_pipeline.settings import get_settings
from bank_pipeline.store import EventStore

RUN_ID = f"bp_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def server_url() -> str:
    return configured_database_url()


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    name = f"{RUN_ID}_template"
    url = create_database(server_url, name, replace=True)
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
    yield name
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """The session's database. CLI commands run by tests see it through BANK_PIPELINE_DATABASE_URL."""
    name = f"{RUN_ID}_session"
    url = create_database(server_url, name, template=template_database, replace=True)
    previous = os.environ.get("BANK_PIPELINE_DATABASE_URL")
    os.environ["BANK_PIPELINE_DATABASE_URL"] = url
    get_settings.cache_clear()
    yield url
    if previous is None:
        os.environ.pop("BANK_PIPELINE_DATABASE_URL", None)
    else:
        os.environ["BANK_PIPELINE_DATABASE_URL"] = previous
    get_settings.cache_clear()
    drop_database(server_url, name)


@pytest.fixture
def fresh_database_url(server_url: str, template_database: str) -> Iterator[str]:
    name = f"{RUN_ID}_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=template_database)
    yield url
    drop_database(server_url, name)


@pytest.fixture(scope="session")
def store(database_url: str) -> Iterator[EventStore]:
    with make_pool(database_url, max_size=16) as pool:
        yield EventStore(pool)


@pytest.fixture
def fresh_store(fresh_database_url: str) -> Iterator[EventStore]:
    with make_pool(fresh_database_url, max_size=16) as pool:
        yield EventStore(pool)


@pytest.fixture
def handler(store: EventStore) -> CommandHandler:
    return CommandHandler(store)


@pytest.fixture
def fresh_handler(fresh_store: EventStore) -> CommandHandler:
    return CommandHandler(fresh_store)


@pytest.fixture
def unique() -> str:
    """A short unique suffix so tests sharing the session database never share streams."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def dagster_storage(server_url: str, tmp_path_factory) -> Iterator[str]:
    """A Dagster home whose storage is a PostgreSQL database of this test session (never SQLite)."""
    from bank_pipeline.dagster_home import storage_url_of

    name = f"{RUN_ID}_dagster"
    create_database(server_url, name, replace=True)
    home = tmp_path_factory.mktemp("dagster_home")
    storage_url = storage_url_of(with_database(server_url, name))
    (home / "dagster.yaml").write_text(
        f'storage:\n  postgres:\n    postgres_url: "{storage_url}"\ntelemetry:\n  enabled: false\n'
    )
    yield str(home)
    drop_database(server_url, name)


@pytest.fixture
def dagster_instance(dagster_storage: str):
    """The session's PostgreSQL-backed Dagster instance, emptied for each test (runs, events, partitions)."""
    import dagster as dg

    from bank_pipeline.defs.ingestion.partitions import landing_files

    instance = dg.DagsterInstance.from_config(dagster_storage)
    instance.wipe()
    for partition in instance.get_dynamic_partitions(landing_files.name):
        instance.delete_dynamic_partition(landing_files.name, partition)
    yield instance
    instance.dispose()
