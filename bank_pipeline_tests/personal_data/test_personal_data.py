"""Sealed personal data, legal holds and erasure against the real PostgreSQL."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime

import psycopg
import pytest

from bank_pipeline.api.queries import read_customer
from bank_pipeline.application import CommandBus
from bank_pipeline.domain import commands as c
from bank_pipeline.domain import errors
from bank_pipeline.domain.personal_data import ERASED_MARKER
from bank_pipeline.domain.statements import StatementPeriod
from bank_pipeline.personal_data import master_key as master_key_module
from bank_pipeline.personal_data.erasure import erase_customer, sweep
from bank_pipeline.personal_data.legal_holds import held_streams, legal_holds
from bank_pipeline.personal_data.master_key import MasterKey, master_key
from bank_pipeline.personal_data.reveal import reveal_payloads, reveal_value
from bank_pipeline.personal_data.sealing import UnreadableSealedValue, open_value, seal_value, unwrap_key
from bank_pipeline.personal_data.vault import PersonalDataVault
from bank_pipeline.projections.projector import Projector
from bank_pipeline.projections.rebuild import rebuild
from bank_pipeline.statements.generation import generate_statements
from bank_pipeline.statements.reading import statement_for_account
from bank_pipeline.statements.store import StatementStore
from bank_pipeline.store import audit
from bank_pipeline.store.records import NewEvent
from bank_pipeline_tests.projections.read_model import whole_read_model

NAME, EMAIL, ADDRESS = "Zyxwvu Plaintextson", "zyxwvu@example.org", "7 Secret Lane"
JANUARY = StatementPeriod.month(2026, 1)
IN_JANUARY = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)


def register(handler, customer_id: str, account_id: str | None = None) -> None:
    handler.execute(c.RegisterCustomer(customer_id, NAME, EMAIL, ADDRESS), occurred_at=IN_JANUARY)
    handler.execute(c.ChangeKycStatus(customer_id, "verified"), occurred_at=IN_JANUARY)
    if account_id is not None:
        handler.execute(c.OpenAccount(account_id, customer_id, "EUR"), occurred_at=IN_JANUARY)
        handler.execute(c.CreditAccount(account_id, 10_000, "EUR", f"t-{account_id}", "Employer", "salary"),
                        occurred_at=IN_JANUARY)  # fmt: skip


def stored_text(conn: psycopg.Connection, customer_id: str) -> str:
    """The customer stream's payloads and snapshot as the database holds them."""
    payloads = conn.execute(
        "SELECT string_agg(payload::text, ' ') FROM event_store.events WHERE stream_id = %s",
        (f"customer-{customer_id}",),
    ).fetchone()[0]
    snapshot = conn.execute(
        "SELECT snapshot::text FROM event_store.streams WHERE stream_id = %s", (f"customer-{customer_id}",)
    ).fetchone()[0]
    return f"{payloads} {snapshot}"


# Sealing


def test_a_sealed_value_opens_only_for_its_customer_and_field() -> None:
    key = os.urandom(32)
    sealed = seal_value(key, "c1", "name", NAME)
    assert sealed.startswith("pii:v1:") and NAME not in sealed
    assert open_value(key, "c1", "name", sealed) == NAME
    assert seal_value(key, "c1", "name", NAME) != sealed  # a fresh nonce each time
    for customer_id, field in (("c2", "name"), ("c1", "email")):
        with pytest.raises(UnreadableSealedValue):
            open_value(key, customer_id, field, sealed)
    with pytest.raises(UnreadableSealedValue):
        open_value(os.urandom(32), "c1", "name", sealed)


def test_both_write_paths_store_ciphertext_only_and_reads_reveal_it(handler, unique) -> None:
    single, grouped = f"seal-{unique}", f"seal-bus-{unique}"
    handler.execute(c.RegisterCustomer(single, NAME, EMAIL, ADDRESS))
    handler.execute(c.UpdateCustomerDetails(single, address="9 Other Road"))
    with CommandBus(handler) as bus:
        bus.execute(c.RegisterCustomer(grouped, NAME, EMAIL, ADDRESS))
    with handler.store.pool.connection() as conn:
        for customer_id in (single, grouped):
            text = stored_text(conn, customer_id)
            assert "pii:v1:" in text
            for plain in (NAME, EMAIL, ADDRESS, "Zyxwvu", "Other Road"):
                assert plain not in text
        (payload,) = conn.execute(
            "SELECT payload FROM event_store.events WHERE stream_id = %s AND event_type = 'CustomerRegistered'",
            (f"customer-{single}",),
        ).fetchone()
        assert reveal_value(conn, single, "name", payload["name"]) == NAME
        assert reveal_payloads(conn, [("CustomerRegistered", payload)])[0]["email"] == EMAIL
    states, _ = handler.load([f"customer-{single}"])
    assert states[f"customer-{single}"].name.startswith("pii:v1:")  # the state (and so the snapshot) is sealed
    assert not states[f"customer-{single}"].plain_personal_data


def test_a_dump_of_the_key_table_reveals_no_key(handler, unique) -> None:
    customer_id = f"wrap-{unique}"
    handler.execute(c.RegisterCustomer(customer_id, NAME, EMAIL, ADDRESS))
    data_key = handler.personal_data._key(customer_id)
    with handler.store.pool.connection() as conn:
        row = conn.execute(
            "SELECT * FROM personal_data.customer_keys WHERE customer_id = %s", (customer_id,)
        ).fetchone()
        dump = repr(row).encode() + b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    assert data_key not in dump and data_key.hex().encode() not in dump
    wrapped = bytes(row[1])
    assert unwrap_key(master_key().key, customer_id, wrapped) == data_key
    with pytest.raises(UnreadableSealedValue):  # another master key cannot unwrap it
        unwrap_key(os.urandom(32), customer_id, wrapped)


def test_the_master_key_file_is_made_once_and_private(tmp_path) -> None:
    path = tmp_path / "home" / master_key_module.KEY_FILE
    first = master_key_module._master_key(None, str(path))
    assert isinstance(first, MasterKey) and len(first.key) == 32
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    master_key_module._master_key.cache_clear()
    assert master_key_module._master_key(None, str(path)) == first


def test_a_plain_text_customer_cannot_be_erased_silently(handler, unique) -> None:
    """A bulk loader (or a store from before sealing) wrote the name in plain text: erasure is refused."""
    customer_id = f"plain-{unique}"
    payload = {"customer_id": customer_id, "name": NAME, "email": EMAIL, "address": ADDRESS}
    handler.store.append([NewEvent(f"customer-{customer_id}", "CustomerRegistered", payload, 1, {}, IN_JANUARY)])
    with handler.store.pool.connection() as conn:
        assert reveal_value(conn, customer_id, "name", NAME) == NAME  # plain text passes through
    with pytest.raises(errors.PersonalDataNotSealed):
        handler.execute(c.EraseCustomer(customer_id, "customer request"))


# Legal holds and erasure


def test_erasure_is_refused_under_a_legal_hold_and_allowed_once_released(handler, unique) -> None:
    customer_id, account_id, other = f"held-{unique}", f"HELD{unique}", f"other-{unique}"
    register(handler, customer_id, account_id)
    register(handler, other, f"OTH{unique}")
    with pytest.raises(errors.AccountOfAnotherCustomer):
        handler.execute(c.PlaceLegalHold(customer_id, "h1", "fraud inquiry", "CASE-1", f"OTH{unique}"))
    handler.execute(c.PlaceLegalHold(customer_id, "h1", "fraud inquiry", "CASE-1"))
    handler.execute(c.PlaceLegalHold(customer_id, "h2", "tax audit", "CASE-2", account_id))
    with pytest.raises(errors.LegalHoldAlreadyExists):
        handler.execute(c.PlaceLegalHold(customer_id, "h1", "again", "CASE-1"))
    with pytest.raises(errors.LegalHoldApplies, match="CASE-1"):
        handler.execute(c.EraseCustomer(customer_id, "customer request"))
    handler.execute(c.ReleaseLegalHold(customer_id, "h1", "case closed"))
    with pytest.raises(errors.UnknownLegalHold):
        handler.execute(c.ReleaseLegalHold(customer_id, "h1", "twice"))
    with pytest.raises(errors.LegalHoldApplies, match="h2"):
        handler.execute(c.EraseCustomer(customer_id, "customer request"))
    handler.execute(c.ReleaseLegalHold(customer_id, "h2", "audit done"))
    handler.execute(c.EraseCustomer(customer_id, "customer request"))
    with pytest.raises(errors.CustomerErased):
        handler.execute(c.UpdateCustomerDetails(customer_id, name="New Name"))
    with pytest.raises(errors.CustomerErased):
        handler.execute(c.EraseCustomer(customer_id, "again"))
    handler.execute(c.PlaceLegalHold(customer_id, "h3", "court order", "CASE-3"))  # holds keep events, not keys


def test_erasure_shows_the_marker_everywhere_and_history_stays_verifiable(fresh_handler, tmp_path) -> None:
    handler = fresh_handler
    customer_id, account_id = "erase-me", "DE89370400440532013000"
    register(handler, customer_id, account_id)
    register(handler, "keep-me", "DE02120300000000202051")
    pool = handler.store.pool
    Projector(pool).catch_up()
    store = StatementStore(tmp_path / "statements")
    with pool.connection() as conn:
        generate_statements(conn, JANUARY, store, ("csv", "camt053", "mt940"))
        assert read_customer(conn, customer_id, visible_to=None).name == NAME
        stored_before = conn.execute("SELECT count(*), string_agg(hash::text, '') FROM event_store.events").fetchone()
    period = store.period_directory(JANUARY)
    mine = [f for f in period.rglob("*") if f.is_file() and account_id in f.name]
    assert mine and all(NAME.encode() in f.read_bytes() for f in mine if f.suffix in (".csv", ".xml"))
    kept = {f.name: f.read_bytes() for f in period.rglob("*") if f.is_file() and "DE0212" in f.name}

    report = erase_customer(handler, customer_id, "customer request", actor="test", statement_store=store)
    assert report.erased_now and report.statements.statements == 1 and report.statements.periods == 1
    Projector(pool).catch_up()

    with pool.connection() as conn:
        customer = read_customer(conn, customer_id, visible_to=None)
        assert (customer.name, customer.email, customer.address) == (ERASED_MARKER,) * 3
        assert customer.erased_at is not None
        assert (
            conn.execute(
                "SELECT name, email, address FROM projections.customers WHERE customer_id = %s", (customer_id,)
            ).fetchone()
            == (ERASED_MARKER,) * 3
        )
        assert read_customer(conn, "keep-me", visible_to=None).name == NAME
        assert statement_for_account(conn, account_id, JANUARY).account.customer_name == ERASED_MARKER
        # The events are untouched (one more: the erasure) and verify without any key.
        count, hashes = conn.execute("SELECT count(*), string_agg(hash::text, '') FROM event_store.events").fetchone()
        assert count == stored_before[0] + 1
        assert audit.verify(conn).ok
        key = conn.execute(
            "SELECT wrapped_key, destroyed_at FROM personal_data.customer_keys WHERE customer_id = %s", (customer_id,)
        ).fetchone()
        assert key[0] is None and key[1] is not None
        erased_event = conn.execute(
            "SELECT metadata->>'actor', payload->>'reason' FROM event_store.events "
            "WHERE stream_id = %s AND event_type = 'CustomerErased'", (f"customer-{customer_id}",),
        ).fetchone()  # fmt: skip
        assert erased_event == ("test", "customer request")
    # The stored statements: the erased customer's re-rendered without the name, the others' kept byte for byte,
    # and the manifest's digests match the files.
    for path in [f for f in period.rglob("*") if f.is_file() and account_id in f.name]:
        assert NAME.encode() not in path.read_bytes()
    assert ERASED_MARKER.encode() in (period / "csv" / f"{account_id}-2026-01.csv").read_bytes()
    assert {f.name: f.read_bytes() for f in period.rglob("*") if f.is_file() and "DE0212" in f.name} == kept
    import hashlib

    for line in store.read_manifest(JANUARY):
        for entry in line["files"].values():
            assert hashlib.sha256((period / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]


def test_an_interrupted_erasure_is_finished_by_the_sweep_or_a_rerun(fresh_handler, tmp_path, monkeypatch) -> None:
    """Through the CommandBus the key is destroyed after the append: a crash in between leaves it, the sweep
    destroys it. The stored statements left unredacted are re-rendered by a re-run (or the sweep)."""
    handler = fresh_handler
    register(handler, "crash-me", "DE89370400440532013000")
    pool = handler.store.pool
    Projector(pool).catch_up()
    store = StatementStore(tmp_path / "statements")
    with pool.connection() as conn:
        generate_statements(conn, JANUARY, store, ("csv",))

    def crash(self, customer_ids):
        raise ConnectionError("the process died before destroying the key")

    monkeypatch.setattr(PersonalDataVault, "destroy", crash)
    with CommandBus(handler) as bus:
        bus.execute(c.EraseCustomer("crash-me", "customer request"))
    monkeypatch.undo()
    with pool.connection() as conn:
        assert conn.execute(
            "SELECT wrapped_key IS NOT NULL FROM personal_data.customer_keys WHERE customer_id = 'crash-me'"
        ).fetchone() == (True,)
    report = sweep(handler, store)
    assert report.keys_destroyed == ["crash-me"]
    assert report.redacted["crash-me"].statements == 1
    assert sweep(handler, store).keys_destroyed == []  # nothing left to do
    csv = (store.period_directory(JANUARY) / "csv" / "DE89370400440532013000-2026-01.csv").read_bytes()
    assert NAME.encode() not in csv and ERASED_MARKER.encode() in csv
    # Running the erasure again answers "erased already" and finishes whatever is left.
    again = erase_customer(handler, "crash-me", "customer request", actor="test", statement_store=store)
    assert not again.erased_now and again.statements.statements == 1
    with pool.connection() as conn:
        assert reveal_value(conn, "crash-me", "name", stored_name(conn, "crash-me")) == ERASED_MARKER


def stored_name(conn: psycopg.Connection, customer_id: str) -> str:
    return conn.execute(
        "SELECT payload->>'name' FROM event_store.events WHERE stream_id = %s AND event_type = 'CustomerRegistered'",
        (f"customer-{customer_id}",),
    ).fetchone()[0]


def test_holds_and_erasures_are_projected_and_rebuilt_identically(fresh_handler, fresh_database_url) -> None:
    handler = fresh_handler
    register(handler, "a", "ACC-A1")
    handler.execute(c.OpenAccount("ACC-A2", "a", "EUR"))
    register(handler, "b", "ACC-B1")
    register(handler, "gone", "ACC-G1")
    handler.execute(c.PlaceLegalHold("a", "whole", "inquiry", "CASE-A"))
    handler.execute(c.PlaceLegalHold("b", "one", "garnishment", "CASE-B", "ACC-B1"))
    handler.execute(c.PlaceLegalHold("b", "released", "mistake", "CASE-X"))
    handler.execute(c.ReleaseLegalHold("b", "released", "placed by mistake"))
    handler.execute(c.EraseCustomer("gone", "customer request"))
    pool = handler.store.pool
    Projector(pool, batch_size=3).catch_up()  # batch by batch, as the worker does
    with pool.connection() as conn:
        incremental = whole_read_model(conn)
        assert held_streams(conn) == {"customer-a", "account-ACC-A1", "account-ACC-A2", "customer-b", "account-ACC-B1"}
        assert [(h.hold_id, h.active) for h in legal_holds(conn, customer_id="b", include_released=True)] == [
            ("one", True), ("released", False),
        ]  # fmt: skip
    assert len(incremental["legal_holds"]) == 3
    rebuild(fresh_database_url)
    with pool.connection() as conn:
        assert whole_read_model(conn) == {**incremental, "checkpoints": whole_read_model(conn)["checkpoints"]}
        assert whole_read_model(conn)["checkpoints"][0][1:3] == incremental["checkpoints"][0][1:3]


def test_statement_names_are_revealed_for_a_period(fresh_handler) -> None:
    handler = fresh_handler
    register(handler, "named", "ACC-N1")
    Projector(handler.store.pool).catch_up()
    with handler.store.pool.connection() as conn:
        assert statement_for_account(conn, "ACC-N1", JANUARY).account.customer_name == NAME
        stored = conn.execute("SELECT name FROM projections.customers WHERE customer_id = 'named'").fetchone()[0]
    assert stored.startswith("pii:v1:")  # the read model keeps it sealed
    assert date(2026, 1, 1) == JANUARY.first_day
