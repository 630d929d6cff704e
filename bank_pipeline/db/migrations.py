"""Applies the numbered SQL files in `sql/` in order, once each, recording a checksum of each.

A file that was applied and then edited is refused: schema history, like event history, is append-only.
Change the schema by adding a new numbered file.
"""

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

MIGRATION_FILE = re.compile(r"^(\d{3,})_[a-z0-9_]+\.sql$")
LOCK_KEY = 0x62616E6B  # "bank": one migrator at a time


class MigrationError(RuntimeError):
    pass


class EditedMigration(MigrationError):
    """An applied migration file no longer matches what was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def sql_directory() -> Path:
    override = os.environ.get("BANK_PIPELINE_SQL_DIR")
    directory = Path(override) if override else Path(__file__).resolve().parents[2] / "sql"
    if not directory.is_dir():
        raise MigrationError(f"SQL migrations directory not found: {directory} (set BANK_PIPELINE_SQL_DIR)")
    return directory


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_directory()
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNN_lowercase_words.sql")
        migrations.append(Migration(int(match.group(1)), path.name, path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number in {directory}")
    return migrations


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]
    already_applied: list[str]


def migrate(conn: psycopg.Connection, directory: Path | None = None) -> MigrationReport:
    """Apply pending migrations, each in its own transaction. Safe to run concurrently and repeatedly."""
    migrations = discover(directory)
    applied, skipped = [], []
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS bank_pipeline_meta")
        conn.execute(
            """CREATE TABLE IF NOT EXISTS bank_pipeline_meta.schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   checksum   text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
    for migration in migrations:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            row = conn.execute(
                "SELECT name, checksum FROM bank_pipeline_meta.schema_migrations WHERE version = %s",
                (migration.version,),
            ).fetchone()
            if row is not None:
                name, checksum = row
                if checksum != migration.checksum or name != migration.name:
                    raise EditedMigration(
                        f"{migration.name} was changed after it was applied (recorded as {name}, "
                        f"checksum {checksum[:12]}…, now {migration.checksum[:12]}…). Applied migrations are "
                        "immutable: restore the file and put the change in a new numbered file."
                    )
                skipped.append(migration.name)
                continue
            try:
                conn.execute(migration.sql)
            except psycopg.Error as error:
                raise MigrationError(
                    f"{migration.name} failed, so nothing of it was applied: {error}. Fix the data or write a "
                    "corrected migration; later files were not applied either."
                ) from error
            conn.execute(
                "INSERT INTO bank_pipeline_meta.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
            applied.append(migration.name)
    return MigrationReport(applied, skipped)
