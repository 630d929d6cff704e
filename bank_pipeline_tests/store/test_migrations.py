import shutil

import psycopg
import pytest

from bank_pipeline.db.migrations import EditedMigration, MigrationError, discover, migrate, sql_directory


def test_migrations_are_numbered_and_applied_once(fresh_database_url):
    names = [m.name for m in discover()]
    assert names == sorted(names) and names[0].startswith("001_")
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        report = migrate(conn)  # the template already applied them all
        assert report.applied == [] and report.already_applied == names
        recorded = conn.execute("SELECT name, checksum FROM bank_pipeline_meta.schema_migrations ORDER BY version")
        assert [(name, checksum) for name, checksum in recorded] == [(m.name, m.checksum) for m in discover()]


def test_a_new_file_is_applied_and_an_edited_applied_file_is_refused(fresh_database_url, tmp_path):
    directory = tmp_path / "sql"
    shutil.copytree(sql_directory(), directory)
    (directory / "900_test_extra.sql").write_text("CREATE TABLE public.migration_probe (id int);\n")
    with psycopg.connect(fresh_database_url, autocommit=True) as conn:
        assert migrate(conn, directory).applied == ["900_test_extra.sql"]
        assert migrate(conn, directory).applied == []

        edited = directory / "001_event_store_tables.sql"
        edited.write_text(edited.read_text() + "\n-- a harmless-looking edit\n")
        with pytest.raises(EditedMigration, match="001_event_store_tables.sql was changed after it was applied"):
            migrate(conn, directory)


def test_badly_named_files_are_refused(tmp_path):
    (tmp_path / "add_things.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNN_lowercase_words.sql"):
        discover(tmp_path)
