"""Tampering with history as a superuser (triggers bypassed) is caught by `audit verify`."""

import pytest
from typer.testing import CliRunner

from bank_pipeline.cli.main import app
from bank_pipeline.store import EventStore, NewEvent
from bank_pipeline.store.audit import verify


def history(store: EventStore) -> None:
    """Three streams, five appends, sealed into two digests, with one unsealed append after them."""
    store.append([NewEvent("acct-a", "Opened", {"n": 1}), NewEvent("acct-b", "Opened", {"n": 1})])
    store.append([NewEvent("acct-a", "Credited", {"amount": 100})])
    store.seal_digest()
    store.append([NewEvent("acct-a", "Debited", {"amount": 30}), NewEvent("acct-b", "Credited", {"amount": 30})])
    store.append([NewEvent("acct-a", "Credited", {"amount": 5})])
    store.seal_digest()
    store.append([NewEvent("acct-c", "Opened", {"n": 1})])


def tamper(store: EventStore, *statements: str) -> None:
    with store.pool.connection() as conn:
        if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:
            pytest.skip("tampering needs a superuser (the embedded PostgreSQL runs as one)")
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # what an attacker would do
            for statement in statements:
                conn.execute(statement)


def position(store: EventStore, stream: str, version: int) -> int:
    return next(e.global_position for e in store.read_stream(stream) if e.stream_version == version)


def audit(store: EventStore):
    with store.pool.connection() as conn:
        return verify(conn)


def test_untouched_history_verifies(fresh_store):
    history(fresh_store)
    report = audit(fresh_store)
    assert report.ok, report.findings
    assert (report.events_checked, report.streams_checked, report.digests_checked) == (7, 3, 2)


def test_a_modified_payload_is_named(fresh_store):
    history(fresh_store)
    target = position(fresh_store, "acct-a", 3)
    tamper(
        fresh_store,
        f"UPDATE event_store.events SET payload = '{{\"amount\": 3}}' WHERE global_position = {target}",
    )
    first = audit(fresh_store).first_problem
    assert (first.kind, first.global_position, first.stream_id) == ("modified", target, "acct-a")


def test_a_modified_event_with_recomputed_hash_breaks_the_next_link(fresh_store):
    history(fresh_store)
    target = position(fresh_store, "acct-a", 2)
    tamper(
        fresh_store,
        f"""
        UPDATE event_store.events SET payload = '{{"amount": 1000000}}' WHERE global_position = {target};
        UPDATE event_store.events SET hash = event_store.event_hash(previous_hash, global_position, stream_id,
            stream_version, event_type, schema_version, event_id, occurred_at, recorded_at, payload, metadata)
         WHERE global_position = {target};""",
    )
    report = audit(fresh_store)
    kinds = {(f.kind, f.stream_id, f.stream_version) for f in report.findings}
    assert ("modified", "acct-a", 3) in kinds  # acct-a v3 no longer chains to the rewritten v2
    assert any(f.kind == "digest_mismatch" for f in report.findings)


def test_a_deleted_event_is_named(fresh_store):
    history(fresh_store)
    target = position(fresh_store, "acct-a", 2)
    tamper(fresh_store, f"DELETE FROM event_store.events WHERE global_position = {target}")
    report = audit(fresh_store)
    assert report.first_problem.kind == "deleted"
    assert "acct-a" in report.first_problem.message and "version 2" in report.first_problem.message


def test_a_deleted_last_event_is_caught_by_the_stream_head(fresh_store):
    history(fresh_store)
    target = position(fresh_store, "acct-c", 1)
    tamper(fresh_store, f"DELETE FROM event_store.events WHERE global_position = {target}")
    first = audit(fresh_store).first_problem
    assert first.kind == "deleted" and first.stream_id == "acct-c"


def test_an_inserted_event_is_named(fresh_store):
    history(fresh_store)
    tamper(
        fresh_store,
        """
        INSERT INTO event_store.events
        SELECT global_position + 1000, transaction_id, stream_id, stream_version, 'Credited', schema_version,
               gen_random_uuid(), '{"amount": 999}', metadata, occurred_at, recorded_at, previous_hash, hash
          FROM event_store.events WHERE stream_id = 'acct-b' AND stream_version = 2""",
    )
    report = audit(fresh_store)
    assert any(f.kind == "inserted" and f.stream_id == "acct-b" for f in report.findings)


def test_a_fully_rewritten_stream_is_caught_by_the_digests(fresh_store):
    """An attacker who recomputes every hash of a stream and its head still cannot fix the sealed digests."""
    history(fresh_store)
    target = position(fresh_store, "acct-b", 1)
    tamper(
        fresh_store,
        f"""
        UPDATE event_store.events SET payload = '{{"n": 2}}' WHERE global_position = {target};
        UPDATE event_store.events SET hash = event_store.event_hash(previous_hash, global_position, stream_id,
            stream_version, event_type, schema_version, event_id, occurred_at, recorded_at, payload, metadata)
         WHERE global_position = {target};
        UPDATE event_store.events e SET previous_hash = p.hash FROM event_store.events p
         WHERE e.stream_id = 'acct-b' AND e.stream_version = 2 AND p.stream_id = 'acct-b' AND p.stream_version = 1;
        UPDATE event_store.events SET hash = event_store.event_hash(previous_hash, global_position, stream_id,
            stream_version, event_type, schema_version, event_id, occurred_at, recorded_at, payload, metadata)
         WHERE stream_id = 'acct-b' AND stream_version = 2;
        UPDATE event_store.streams s SET last_hash = e.hash FROM event_store.events e
         WHERE s.stream_id = 'acct-b' AND e.stream_id = 'acct-b' AND e.stream_version = 2;""",
    )
    report = audit(fresh_store)
    assert {f.kind for f in report.findings} == {"digest_mismatch"}
    assert "digest 1" in report.first_problem.message


def test_cli_audit_verify_names_the_problem_and_exits_non_zero(fresh_store, fresh_database_url, monkeypatch):
    from bank_pipeline.settings import get_settings

    history(fresh_store)
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0, ok.output
        assert "OK" in ok.output
        target = position(fresh_store, "acct-a", 3)
        tamper(
            fresh_store,
            f"UPDATE event_store.events SET metadata = '{{\"actor\": 1}}' WHERE global_position = {target}",
        )
        bad = CliRunner().invoke(app, ["audit", "verify"])
        assert bad.exit_code == 2
        assert f"position {target}" in bad.output and "[modified]" in bad.output
    finally:
        get_settings.cache_clear()
