"""The statement tests' bank (statement_bank.py), built once for the package in its own database."""

import uuid
from collections.abc import Iterator

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.db.databases import create_database, drop_database
from bank_pipeline.store import EventStore
from bank_pipeline_tests.statements.statement_bank import Bank, build_statement_bank, projected_streams


@pytest.fixture(scope="package")
def bank(server_url: str, template_database: str) -> Iterator[Bank]:
    name = f"bp_test_statements_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=template_database)
    try:
        with make_pool(url, max_size=4) as pool:
            build_statement_bank(CommandHandler(EventStore(pool)))
            streams = projected_streams(pool)
        yield Bank(url, streams)
    finally:
        drop_database(server_url, name)


@pytest.fixture(scope="package")
def conn(bank: Bank):
    with connect(bank.url) as connection:
        yield connection
