"""PostgreSQL access: where the database is, connections, and schema migrations."""

from bank_pipeline.db.connection import connect, database_url, pool

__all__ = ["connect", "database_url", "pool"]
