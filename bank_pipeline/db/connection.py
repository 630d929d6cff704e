"""Where the database is, and connections to it. One code path for embedded and external servers."""

import psycopg
from psycopg_pool import ConnectionPool
from sqlalchemy.engine import make_url

from bank_pipeline.db import embedded
from bank_pipeline.settings import Settings, get_settings


class DatabaseUnavailable(RuntimeError):
    """The configured PostgreSQL cannot be reached; the message says what to check."""


def database_url(settings: Settings | None = None) -> str:
    """A libpq URL: BANK_PIPELINE_DATABASE_URL if set, else the embedded server (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url:
        return to_libpq_url(settings.database_url)
    return embedded.start(settings.embedded_pgdata)


def to_libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style URLs too (postgresql+psycopg://...) and hand libpq a plain one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUnavailable(f"BANK_PIPELINE_DATABASE_URL must name a PostgreSQL database, not {url!r}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def connect(url: str | None = None, *, autocommit: bool = True) -> psycopg.Connection:
    url = url or database_url()
    try:
        return psycopg.connect(url, autocommit=autocommit)
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(
            f"cannot connect to PostgreSQL ({error}). Check BANK_PIPELINE_DATABASE_URL, or unset it to use "
            "the embedded server (`bank-pipeline db start`)."
        ) from error


def pool(url: str | None = None, *, min_size: int = 1, max_size: int = 8, timeout: float = 30) -> ConnectionPool:
    """A connection pool of autocommit connections: each store call is its own transaction."""
    return ConnectionPool(
        url or database_url(),
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        kwargs={"autocommit": True},
        open=True,
    )
