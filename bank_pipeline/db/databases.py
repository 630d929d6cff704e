"""Creating and dropping whole databases on the configured server (tests and benchmarks use their own)."""

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from bank_pipeline.db.connection import connect


def with_database(url: str, name: str) -> str:
    """The same server URL, pointing at database `name`."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str, *, template: str | None = None, replace: bool = False) -> str:
    """Create database `name` (optionally as a copy of `template`) and return its URL."""
    with connect(with_database(server_url, "postgres")) as admin:
        if replace:
            _drop(admin, name)
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(template))
        admin.execute(statement)
    return with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    with connect(with_database(server_url, "postgres")) as admin:
        _drop(admin, name)


def _drop(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
