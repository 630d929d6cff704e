"""Erasure reaches what the first version missed: the idempotency fingerprints, refusal texts, statements of
purged accounts, a statement run in flight, and quarantined landing rows. Against the real PostgreSQL."""

from __future__ import annotations

import pytest

from bank_pipeline.application import CommandBus
from bank_pipeline.application.handler import request_hash
from bank_pipeline.domain import commands as c
from bank_pipeline.domain import errors
from bank_pipeline.domain.personal_data import ERASED_MARKER
from bank_pipeline.ingest.ingestion import Ingestion
from bank_pipeline.ingest.landing import CUSTOMER_COLUMNS
from bank_pipeline.personal_data.erasure import erase_customer, sweep
from bank_pipeline.projections.projector import Projector
from bank_pipeline.statements.generation import generate_statements
from bank_pipeline.statements.store import StatementStore
from bank_pipeline.store import IdempotencyConflict
from bank_pipeline_tests.ingest.landing_files import write_csv
from bank_pipeline_tests.personal_data.test_personal_data import (
    ADDRESS,
    EMAIL,
    IN_JANUARY,
    JANUARY,
    NAME,
    register,
)


def stored_hash(conn, key: str) -> bytes:
    sql = "SELECT request_hash FROM event_store.idempotency_keys WHERE idempotency_key = %s"
    return bytes(conn.execute(sql, (key,)).fetchone()[0])


@pytest.mark.parametrize("path", ["handler", "bus"])
def test_the_stored_fingerprint_stops_confirming_personal_data_once_erased(fresh_handler, path) -> None:
    h = fresh_handler
    register_command = c.RegisterCustomer("fp", NAME, EMAIL, ADDRESS)
    other = c.RegisterCustomer("fp", "Someone Else", EMAIL, ADDRESS)
    key = "customers:fp:register"
    with CommandBus(h) as bus:
        writer = h if path == "handler" else bus
        assert not writer.execute(register_command, idempotency_key=key).replayed
        assert writer.execute(register_command, idempotency_key=key).replayed  # a retry replays
        with pytest.raises(IdempotencyConflict):  # another request under the key conflicts
            writer.execute(other, idempotency_key=key)
        with h.store.pool.connection() as conn:
            stored = stored_hash(conn, key)
        assert len(stored) == 64 and stored != request_hash(register_command)  # keyed, not a plain hash

        erase_customer(h, "fp", "gdpr", actor="test", statement_store=None)
        guesses = [c.RegisterCustomer("fp", n, e, ADDRESS) for n in (NAME, "John Doe") for e in (EMAIL, "j@x.org")]
        assert not any(stored in (request_hash(g), request_hash(g, None)) for g in guesses)
        # The legacy fingerprint (SHA-256 over the plain command) is not what is stored either.
        assert request_hash(c.ChangeKycStatus("fp", "verified")) != stored
        # A retry after the erasure still gets the key's result, and nothing new is written.
        assert writer.execute(register_command, idempotency_key=key).replayed
        with pytest.raises(IdempotencyConflict):  # the rest of the command is still compared
            writer.execute(c.RegisterCustomer("fp2", NAME, EMAIL, ADDRESS), idempotency_key=key)


def test_personal_field_refusals_never_quote_the_value(fresh_handler) -> None:
    with pytest.raises(errors.InvalidCommand) as refused:
        fresh_handler.execute(c.RegisterCustomer("echo", "pii:Zyxwvu Secret", EMAIL, ADDRESS))
    assert "Zyxwvu" not in str(refused.value) and "name must not start with 'pii:'" in str(refused.value)
    with pytest.raises(errors.InvalidCommand) as refused:
        fresh_handler.execute(c.RegisterCustomer("echo", NAME, "   ", ADDRESS))
    assert "email must be non-empty text" in str(refused.value)


def test_a_statement_of_an_account_purged_from_the_read_model_is_dropped(fresh_handler, tmp_path) -> None:
    h = fresh_handler
    register(h, "mixed", "kept-acc")
    h.execute(c.OpenAccount("gone-acc", "mixed", "EUR"), occurred_at=IN_JANUARY)
    Projector(h.store.pool).catch_up()
    store = StatementStore(tmp_path / "statements")
    with h.store.pool.connection() as conn:
        generate_statements(conn, JANUARY, store, ("csv", "camt053"))
        # What a retention purge does to the read model of a purged account (archive/purge.py _forget_streams).
        for table in ("account_balances", "account_entries", "daily_balances", "account_holds",
                      "account_status_changes", "customer_accounts"):  # fmt: skip
            conn.execute(f"DELETE FROM projections.{table} WHERE account_id = 'gone-acc'")
    report = erase_customer(h, "mixed", "gdpr", actor="test", statement_store=store)
    assert (report.statements.statements, report.statements.dropped, report.statements.busy) == (1, 1, 0)
    directory = store.period_directory(JANUARY)
    assert [line["account_id"] for line in store.read_manifest(JANUARY)] == ["kept-acc"]
    assert not list(directory.rglob("*gone-acc*"))
    assert not any(NAME.encode() in p.read_bytes() for p in directory.rglob("*") if p.is_file())
    with h.store.pool.connection() as conn:
        assert conn.execute("SELECT statements_redacted_at IS NOT NULL FROM personal_data.erasures").fetchone()[0]


def test_an_erasure_during_a_first_statement_run_is_finished_by_the_sweep(fresh_handler, tmp_path) -> None:
    h = fresh_handler
    register(h, "racer", "DE89370400440532013000")
    Projector(h.store.pool).catch_up()
    store = StatementStore(tmp_path / "statements")
    erased = []

    def erasure_meanwhile(_) -> None:  # the run has rendered the batch (with the name); an operator erases now
        if not erased:
            erased.append(erase_customer(h, "racer", "gdpr", actor="op", statement_store=store))

    with h.store.pool.connection() as conn:
        generate_statements(conn, JANUARY, store, ("csv",), on_progress=erasure_meanwhile)
    assert erased[0].statements.busy == 1  # the period was being written: left to the sweep
    with h.store.pool.connection() as conn:
        pending = "SELECT statements_redacted_at IS NULL FROM personal_data.erasures WHERE customer_id = 'racer'"
        assert conn.execute(pending).fetchone()[0]
    csv = next(store.period_directory(JANUARY).rglob("*.csv"))
    assert NAME.encode() in csv.read_bytes()  # what the run swapped in, rendered before the erasure
    report = sweep(h, store)
    assert report.redacted["racer"].statements == 1 and report.redacted["racer"].complete
    csv = next(store.period_directory(JANUARY).rglob("*.csv")).read_bytes()
    assert NAME.encode() not in csv and ERASED_MARKER.encode() in csv
    with h.store.pool.connection() as conn:
        assert not conn.execute(pending).fetchone()[0]
    assert sweep(h, store).redacted == {}


def test_quarantined_rows_of_an_erased_customer_are_scrubbed_and_a_redelivery_is_ignored(fresh_store, tmp_path) -> None:
    from bank_pipeline.application import CommandHandler

    handler = CommandHandler(fresh_store)
    with Ingestion(handler, fresh_store.pool, tmp_path, max_rejection_rate=0.9) as ingestion:
        first = write_csv(tmp_path / "customers_v1_20261102_0001.csv", CUSTOMER_COLUMNS, [
            ("gdpr", NAME, EMAIL, ADDRESS, "verified"),
            ("other", "Other Person", "other@example.org", "1 Road", "verified"),
        ])  # fmt: skip
        assert ingestion.ingest(first).accepted == 2
        # The same customer with another name under the same record id: quarantined (record_id_reused), and a
        # row failing validation: both hold the customer's personal data as received.
        second = write_csv(tmp_path / "customers_v1_20261103_0001.csv", CUSTOMER_COLUMNS, [
            ("gdpr", NAME + " Jr", EMAIL, ADDRESS, "verified"),
            ("gdpr", NAME, "not-an-email", ADDRESS, "verified"),
            ("other", "Other Person", "bad-email", "1 Road", "verified"),
        ])  # fmt: skip
        assert ingestion.ingest(second).quarantined == 3

        def quarantined_text(customer_id: str) -> str:
            with fresh_store.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT record::text || reason FROM ingest.quarantine WHERE record->>'customer_id' = %s",
                    (customer_id,),
                ).fetchall()
            return " ".join(row[0] for row in rows)

        assert NAME in quarantined_text("gdpr") and "not-an-email" in quarantined_text("gdpr")
        erase_customer(handler, "gdpr", "gdpr", actor="test", statement_store=None)
        text = quarantined_text("gdpr")
        for plain in (NAME, EMAIL, ADDRESS, "not-an-email", "Zyxwvu"):
            assert plain not in text
        assert ERASED_MARKER in text and "Other Person" in quarantined_text("other")  # others keep theirs

        # Delivered again after the erasure, the same day's row and a later day's: ignored as duplicates, no
        # quarantine row with the personal data.
        again = write_csv(tmp_path / "customers_v1_20261102_0002.csv", CUSTOMER_COLUMNS,
                          [("gdpr", NAME, EMAIL, ADDRESS, "verified")])  # fmt: skip
        later = write_csv(tmp_path / "customers_v1_20261104_0001.csv", CUSTOMER_COLUMNS,
                          [("gdpr", NAME, EMAIL, ADDRESS, "rejected")])  # fmt: skip
        for path in (again, later):
            outcome = ingestion.ingest(path)
            assert (outcome.duplicate, outcome.quarantined) == (1, 0), outcome
        assert NAME not in quarantined_text("gdpr")
