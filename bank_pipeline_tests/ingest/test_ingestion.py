"""Landing files into the event store: every received row ends up accepted, duplicate or quarantined
(with its reason), exactly once, in landing order."""

import shutil

import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.domain.streams import account_stream
from bank_pipeline.ingest.errors import ContentChanged, EarlierFilesPending, FileBeingIngested
from bank_pipeline.ingest.ingestion import Ingestion, changed_after_ingestion
from bank_pipeline.ingest.landing import CUSTOMER_COLUMNS
from bank_pipeline_tests.ingest.landing_files import (
    ADA,
    BOB,
    GBP_ACCOUNT,
    accounts,
    customers,
    transaction,
    transactions,
    write_csv,
)


@pytest.fixture
def ingestion(fresh_store, tmp_path):
    handler = CommandHandler(fresh_store)
    with Ingestion(handler, fresh_store.pool, tmp_path, max_rejection_rate=0.5) as ingestion:
        yield ingestion


def balance(ingestion: Ingestion, account_id: str) -> int:
    states, _ = ingestion.handler.load([account_stream(account_id)])
    return states[account_stream(account_id)].ledger_balance


def quarantine(ingestion: Ingestion, file_name: str) -> list[tuple]:
    with ingestion.pool.connection() as conn:
        return conn.execute(
            "SELECT line, record_id, reason_code FROM ingest.quarantine WHERE file_name = %s ORDER BY line",
            (file_name,),
        ).fetchall()


def onboard(ingestion: Ingestion, directory) -> None:
    for path in (customers(directory), accounts(directory)):
        outcome = ingestion.ingest(path)
        assert outcome.status == "ingested" and outcome.quarantined == 0


def test_every_row_is_accepted_duplicate_or_quarantined_with_its_reason(ingestion, tmp_path):
    onboard(ingestion, tmp_path)
    rows = [
        transaction("T1", "salary", ADA, "100000"),  # line 2
        transaction("T2", "card_payment", ADA, "2550"),  # 3
        transaction("T3", "p2p_transfer", ADA, "10000", to=BOB),  # 4
        transaction("T3", "p2p_transfer", ADA, "10000", to=BOB),  # 5: the same row twice
        transaction("T4", "card_payment", ADA, "12,3x"),  # 6: malformed amount
        transaction("T5", "card_payment", "DE68370400440532099999", "100"),  # 7: never opened
        transaction("T6", "card_payment", ADA, "100", currency="GBP"),  # 8: wrong currency
        transaction("T7", "card_payment", BOB, "999999"),  # 9: beyond Bob's balance
        transaction("T8", "bill_payment", GBP_ACCOUNT, "-5", currency="GBP"),  # 10: negative
    ]
    outcome = ingestion.ingest(transactions(tmp_path, rows))

    assert (outcome.received, outcome.accepted, outcome.duplicate, outcome.quarantined) == (9, 3, 1, 5)
    assert outcome.events_appended == 4  # credit, debit, and the transfer's two legs
    assert quarantine(ingestion, outcome.file_name) == [
        (6, "T4", "invalid_amount"),
        (7, "T5", "unknown_account"),
        (8, "T6", "currency_mismatch"),
        (9, "T7", "insufficient_funds"),
        (10, "T8", "invalid_amount"),
    ]
    assert outcome.quarantined_by_reason == {
        "invalid_amount": 2, "unknown_account": 1, "currency_mismatch": 1, "insufficient_funds": 1,
    }  # fmt: skip
    assert balance(ingestion, ADA) == 100000 - 2550 - 10000
    assert balance(ingestion, BOB) == 10000
    with ingestion.pool.connection() as conn:
        assert conn.execute(
            "SELECT status, received, accepted, duplicate, quarantined FROM ingest.files WHERE file_name = %s",
            (outcome.file_name,),
        ).fetchone() == ("ingested", 9, 3, 1, 5)


def test_rows_are_booked_at_the_time_the_file_says(ingestion, tmp_path, fresh_store):
    onboard(ingestion, tmp_path)
    ingestion.ingest(transactions(tmp_path, [transaction("T1", "salary", ADA, "500", at="2026-11-02T07:30:00+01:00")]))
    opened, *_, credited = fresh_store.read_stream(account_stream(ADA))
    assert credited.occurred_at.isoformat() == "2026-11-02T06:30:00+00:00"
    # Accounts open on the business day their file describes, so they exist before that day's entries.
    assert opened.event_type == "AccountOpened" and opened.occurred_at.isoformat() == "2026-11-02T00:00:00+00:00"


def test_a_file_is_ingested_once_and_a_redelivered_copy_or_row_appends_nothing(ingestion, tmp_path):
    onboard(ingestion, tmp_path)
    first = transactions(tmp_path, [transaction("T1", "salary", ADA, "500"), transaction("T2", "salary", BOB, "700")])
    assert ingestion.ingest(first).accepted == 2

    again = ingestion.ingest(first)
    assert again.already_done and (again.accepted, again.events_appended) == (2, 2)

    copy = shutil.copy(first, tmp_path / "transactions_v2_20261102_0002.csv")
    duplicate_file = ingestion.ingest(copy)
    assert (duplicate_file.status, duplicate_file.duplicate, duplicate_file.duplicate_of) == (
        "duplicate_file", 2, first.name,
    )  # fmt: skip

    # One row redelivered in a later file, and one record id reused with other content.
    later = transactions(
        tmp_path,
        [transaction("T1", "salary", ADA, "500"), transaction("T2", "salary", BOB, "9999"),
         transaction("T9", "salary", BOB, "1")],
        sequence=3,
    )  # fmt: skip
    outcome = ingestion.ingest(later)
    assert (outcome.accepted, outcome.duplicate, outcome.quarantined) == (1, 1, 1)
    assert quarantine(ingestion, later.name) == [(3, "T2", "record_id_reused")]
    assert (balance(ingestion, ADA), balance(ingestion, BOB)) == (500, 701)


def test_files_wait_for_earlier_files_in_landing_order(ingestion, tmp_path):
    customers(tmp_path)
    accounts_file = accounts(tmp_path)
    with pytest.raises(EarlierFilesPending) as waiting:
        ingestion.ingest(accounts_file)
    assert waiting.value.pending == ["customers_v1_20261102_0001.csv"]
    assert [o.file_name for o in ingestion.ingest_pending()] == [
        "customers_v1_20261102_0001.csv", "accounts_v1_20261102_0001.csv",
    ]  # fmt: skip


def test_an_unreadable_file_is_quarantined_whole(ingestion, tmp_path):
    onboard(ingestion, tmp_path)
    broken = tmp_path / "transactions_v2_20261102_0001.parquet"
    broken.write_bytes(b"PAR1 this is not parquet")
    outcome = ingestion.ingest(broken)
    assert (outcome.status, outcome.received, outcome.quarantined, outcome.rejection_rate) == ("unreadable", 1, 1, 1.0)
    assert quarantine(ingestion, broken.name) == [(None, None, "unreadable_file")]


def test_a_finished_file_whose_content_changed_is_refused(ingestion, tmp_path):
    onboard(ingestion, tmp_path)
    path = transactions(tmp_path, [transaction("T1", "salary", ADA, "500")])
    ingestion.ingest(path)
    transactions(tmp_path, [transaction("T1", "salary", ADA, "600")])  # same name, other bytes
    with pytest.raises(ContentChanged, match="next sequence number"):
        ingestion.ingest(path)
    assert balance(ingestion, ADA) == 500


def test_a_file_failing_validation_beyond_the_threshold_is_rejected_whole(fresh_store, tmp_path):
    with Ingestion(CommandHandler(fresh_store), fresh_store.pool, tmp_path, max_rejection_rate=0.2) as ingestion:
        onboard(ingestion, tmp_path)
        rows = [transaction("T1", "salary", ADA, "500"), transaction("T2", "salary", ADA, "1x")]
        outcome = ingestion.ingest(transactions(tmp_path, rows))
        assert (outcome.status, outcome.received, outcome.accepted, outcome.quarantined) == ("rejected", 2, 0, 2)
        assert quarantine(ingestion, outcome.file_name) == [(2, "T1", "file_rejected"), (3, "T2", "invalid_amount")]
        assert balance(ingestion, ADA) == 0  # nothing of it applied, not even the valid row


def test_two_processes_never_ingest_one_file_at_once(ingestion, tmp_path, fresh_store):
    """The second ingester of a file that is being ingested backs off with a clear error, so the file's
    counts are written by one of them only."""
    onboard(ingestion, tmp_path)
    path = transactions(tmp_path, [transaction("T1", "salary", ADA, "500")])
    with fresh_store.pool.connection() as conn:  # what the other process holds while it ingests the file
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"ingest:{path.name}",))
        with pytest.raises(FileBeingIngested, match="another process"):
            ingestion.ingest(path)
        conn.execute("SELECT pg_advisory_unlock_all()")
    assert ingestion.ingest(path).accepted == 1


def test_an_interrupted_file_is_finished_by_the_next_run_and_its_rows_count_once(ingestion, tmp_path, monkeypatch):
    """A crash after the rows were applied but before the file was finished: the next run replays the keys,
    sees from the events' causation that this file applied them, and counts them as accepted."""
    onboard(ingestion, tmp_path)
    path = transactions(tmp_path, [transaction("T1", "salary", ADA, "500"), transaction("T2", "salary", BOB, "700")])

    def crash(*args, **kwargs):
        raise RuntimeError("killed before the file was finished")

    with monkeypatch.context() as patched:
        patched.setattr(Ingestion, "_finish", crash)
        with pytest.raises(RuntimeError):
            ingestion.ingest(path)
    assert balance(ingestion, ADA) == 500  # applied, but the file is still 'ingesting'
    assert [f.name for f in ingestion.pending_files()] == [path.name]

    outcome = ingestion.ingest(path)
    assert (outcome.status, outcome.accepted, outcome.duplicate, outcome.events_appended) == ("ingested", 2, 0, 2)
    assert (balance(ingestion, ADA), balance(ingestion, BOB)) == (500, 700)


def test_a_kyc_status_delivered_again_on_a_later_day_applies_again(ingestion, tmp_path, fresh_store):
    """verified, then rejected, then verified again: three facts, not a duplicate of the first."""
    onboard(ingestion, tmp_path)
    for day, status in (("20261103", "rejected"), ("20261104", "verified")):
        path = write_csv(
            tmp_path / f"customers_v1_{day}_0001.csv",
            CUSTOMER_COLUMNS,
            [("ada", "Ada Lovelace", "ada@example.org", "12 St James's Sq", status)],
        )
        outcome = ingestion.ingest(path)
        assert (outcome.status, outcome.accepted, outcome.duplicate) == ("ingested", 1, 0)
    kyc = [
        e.payload["status"]
        for e in fresh_store.read_stream("customer-ada")
        if e.event_type == "CustomerKycStatusChanged"
    ]
    assert kyc == ["verified", "rejected", "verified"]


def test_a_file_rewritten_after_ingestion_is_reported_not_ingested_again(ingestion, tmp_path):
    onboard(ingestion, tmp_path)
    path = transactions(tmp_path, [transaction("T1", "salary", ADA, "500")])
    ingestion.ingest(path)
    assert changed_after_ingestion(ingestion.pool, tmp_path) == []
    transactions(tmp_path, [transaction("T1", "salary", ADA, "500"), transaction("T2", "salary", ADA, "9")])
    assert changed_after_ingestion(ingestion.pool, tmp_path) == [path.name]
    assert ingestion.pending_files() == []


def test_a_row_whose_date_cannot_become_a_command_is_quarantined_not_fatal(ingestion, tmp_path):
    """A valid-looking time at the end of the calendar overflows when converted: that row is quarantined and
    the file (and every file after it) goes on."""
    onboard(ingestion, tmp_path)
    rows = [
        transaction("T1", "salary", ADA, "500"),
        transaction("T2", "salary", ADA, "5", at="9999-12-31T23:00:00-05:00"),
    ]
    outcome = ingestion.ingest(transactions(tmp_path, rows))
    assert (outcome.status, outcome.accepted, outcome.quarantined) == ("ingested", 1, 1)
    assert quarantine(ingestion, outcome.file_name) == [(3, "T2", "unmappable")]


def test_a_redo_never_rejects_a_file_whose_rows_were_applied(fresh_store, tmp_path, monkeypatch):
    """The first run (threshold 0.5) applied the valid row and crashed; a redo under a stricter threshold
    finishes the file rather than calling it 'rejected, nothing applied'."""
    handler = CommandHandler(fresh_store)
    with Ingestion(handler, fresh_store.pool, tmp_path, max_rejection_rate=0.5) as lenient:
        onboard(lenient, tmp_path)
        path = transactions(tmp_path, [transaction("T1", "salary", ADA, "500"), transaction("T2", "salary", ADA, "1x")])
        with monkeypatch.context() as patched:
            patched.setattr(Ingestion, "_finish", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("killed")))
            with pytest.raises(RuntimeError):
                lenient.ingest(path)
    with Ingestion(handler, fresh_store.pool, tmp_path, max_rejection_rate=0.2) as strict:
        outcome = strict.ingest(path)
        assert (outcome.status, outcome.accepted, outcome.quarantined) == ("ingested", 1, 1)
        assert balance(strict, ADA) == 500
