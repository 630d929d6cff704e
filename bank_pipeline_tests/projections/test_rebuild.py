"""A full rebuild against real histories: it equals the incrementally maintained read model row for row,
readers and a live projector keep working across the swap, and a failure before the swap leaves the live
read model as it was."""

import threading
import time

import psycopg
import pytest

from bank_pipeline.application import CommandHandler
from bank_pipeline.projections.projector import CheckpointMoved, Projector, project_next_batch, read_checkpoint
from bank_pipeline.projections.rebuild import PHASES, RETIRED_SCHEMA, SHADOW_SCHEMA, RebuildProgress, rebuild
from bank_pipeline.projections.statements import LOCK_CHECKPOINT, in_schema
from bank_pipeline.store import Checkpoint, EventStore
from bank_pipeline_tests.projections.expectations import assert_read_model_matches_events
from bank_pipeline_tests.projections.random_bank import build_random_bank
from bank_pipeline_tests.projections.read_model import whole_read_model
from bank_pipeline_tests.projections.reference import all_events


class InjectedFault(RuntimeError):
    pass


def schemas(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'projections%'")}


def wait_until_final(store: EventStore) -> None:
    """Until every stored event is below the read horizon. The horizon is the oldest transaction still
    running anywhere on the server (another database's too), so on a shared server it can lag for a while."""
    with store.pool.connection() as conn:
        for _ in range(3000):
            if conn.execute(
                "SELECT coalesce(max(transaction_id), 0) < event_store.read_horizon() FROM event_store.events"
            ).fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the read horizon did not pass the stored events within a minute")


def events_up_to_checkpoint(conn: psycopg.Connection) -> int:
    """How many events the live checkpoint has passed: what events_projected must say if none was
    projected twice."""
    checkpoint = read_checkpoint(conn)
    return conn.execute(
        "SELECT count(*) FROM event_store.events WHERE (transaction_id, global_position) <= (%s, %s)", checkpoint
    ).fetchone()[0]


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_a_rebuild_equals_the_incrementally_maintained_read_model(
    fresh_store: EventStore, fresh_database_url: str, seed: int
) -> None:
    handler = CommandHandler(fresh_store)
    projector = Projector(fresh_store.pool, batch_size=7)
    for part in range(3):  # events arrive while the projector keeps up, back-dated entries among them
        build_random_bank(handler, seed=seed * 10 + part, accounts=6, operations=100)
        projector.catch_up()
    wait_until_final(fresh_store)
    projector.catch_up()
    with fresh_store.pool.connection() as conn:
        incremental = whole_read_model(conn)

    result = rebuild(fresh_database_url)

    with fresh_store.pool.connection() as conn:
        rebuilt = whole_read_model(conn)
        assert schemas(conn) == {"projections"}
    assert rebuilt == incremental
    assert result.bulk_events == len(all_events(fresh_store))
    assert result.caught_up_events == 0
    assert result.rows_loaded["account_entries"] == len(incremental["account_entries"])


def test_a_rebuild_of_a_read_model_never_projected_equals_a_fold(fresh_store: EventStore, fresh_database_url) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=21, accounts=8, operations=200)
    wait_until_final(fresh_store)
    rebuild(fresh_database_url)
    assert_read_model_matches_events(fresh_store)
    assert Projector(fresh_store.pool).project_batch() is None  # the rebuilt checkpoint is at the end


def test_a_rebuild_of_no_events_leaves_an_empty_read_model(fresh_store: EventStore, fresh_database_url) -> None:
    result = rebuild(fresh_database_url)
    with fresh_store.pool.connection() as conn:
        model = whole_read_model(conn)
    assert result.events == 0
    assert model["checkpoints"] == [("read_model", 0, 0, 0)]
    assert all(rows == [] for table, rows in model.items() if table != "checkpoints")


class Writer(threading.Thread):
    """Appends random bank histories until stopped."""

    def __init__(self, store: EventStore, first_seed: int):
        super().__init__(daemon=True)
        self.handler = CommandHandler(store)
        self.seed = first_seed
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                build_random_bank(self.handler, seed=self.seed, accounts=3, operations=15)
                self.seed += 1
        except BaseException as error:  # noqa: BLE001 - reported by the test
            self.error = error


class LiveProjector(threading.Thread):
    """Projects into the live schema in small batches until stopped; counts the batches a swap made it
    retry (CheckpointMoved) and keeps any other error."""

    def __init__(self, url: str, *, prepare_threshold: int | None = 5):
        super().__init__(daemon=True)
        self.url = url
        self.prepare_threshold = prepare_threshold
        self.stop = threading.Event()
        self.retried = 0
        self.batches = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.prepare_threshold = self.prepare_threshold
                while not self.stop.is_set():
                    try:
                        if project_next_batch(conn, limit=5) is None:
                            time.sleep(0.005)
                        else:
                            self.batches += 1
                    except CheckpointMoved:
                        self.retried += 1
        except BaseException as error:  # noqa: BLE001
            self.error = error


def test_a_rebuild_while_writers_append_and_a_projector_runs_ends_equal_to_a_fold(
    fresh_store: EventStore, fresh_database_url: str
) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=31, accounts=6, operations=120)
    writer, projector = Writer(fresh_store, first_seed=1000), LiveProjector(fresh_database_url)
    writer.start()
    projector.start()
    try:
        time.sleep(0.3)
        rebuild(fresh_database_url, catch_up_batch=10)
        time.sleep(0.3)  # the projector goes on in the rebuilt schema
    finally:
        writer.stop.set()
        writer.join()
        projector.stop.set()
        projector.join()

    assert writer.error is None and projector.error is None
    assert writer.seed > 1000  # the writer appended while the rebuild ran
    wait_until_final(fresh_store)
    Projector(fresh_store.pool).catch_up()
    assert_read_model_matches_events(fresh_store)
    with fresh_store.pool.connection() as conn:
        (projected,) = conn.execute("SELECT events_projected FROM projections.checkpoints").fetchone()
        assert projected == events_up_to_checkpoint(conn)  # no event was projected twice
        assert schemas(conn) == {"projections"}


@pytest.mark.parametrize("prepare_threshold", [0, None], ids=["prepared statements", "unprepared statements"])
def test_a_projector_waiting_on_the_swap_locks_the_rebuilt_checkpoint(
    fresh_store: EventStore, fresh_database_url: str, prepare_threshold: int | None
) -> None:
    """The swap holds the live checkpoints table locked while it renames. A projector waiting for that lock
    must lock the rebuilt table once it gets it, not the retired one: PostgreSQL looks a name up again after
    waiting for its lock, and a schema rename invalidates cached plans. Here the live checkpoint is stale
    (events not projected yet), so the two tables hold different checkpoints and the one read tells."""
    handler = CommandHandler(fresh_store)
    build_random_bank(handler, seed=41, accounts=4, operations=60)
    wait_until_final(fresh_store)
    Projector(fresh_store.pool).catch_up()
    build_random_bank(handler, seed=42, accounts=2, operations=20)  # not projected live
    wait_until_final(fresh_store)
    with fresh_store.pool.connection() as conn:
        stale = read_checkpoint(conn)
    lock_checkpoint = in_schema(LOCK_CHECKPOINT, "projections")
    warmed, go, outcome = threading.Event(), threading.Event(), {}

    def lock_during_swap() -> None:
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            conn.prepare_threshold = prepare_threshold
            for _ in range(6):  # with a threshold, the statement is prepared (its plan cached) by now
                with conn.transaction():
                    conn.execute(lock_checkpoint)
            warmed.set()
            go.wait()
            try:
                with conn.transaction():
                    outcome["locked"] = Checkpoint(*conn.execute(lock_checkpoint).fetchone())
                outcome["batch"] = project_next_batch(conn)
            except BaseException as error:  # noqa: BLE001
                outcome["error"] = error

    projector = threading.Thread(target=lock_during_swap)
    projector.start()
    assert warmed.wait(30)

    def at_swap(progress: RebuildProgress) -> None:
        if progress.phase == "swap" and progress.detail.startswith("renamed"):
            go.set()
            _wait_until_waiting_for_a_lock(fresh_database_url)

    result = rebuild(fresh_database_url, on_progress=at_swap)
    projector.join(timeout=30)

    assert "error" not in outcome
    assert result.checkpoint != stale
    assert outcome["locked"] == result.checkpoint
    assert outcome["batch"] is None  # nothing left after the rebuilt checkpoint
    assert_read_model_matches_events(fresh_store)


def _wait_until_waiting_for_a_lock(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(500):
            if conn.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone():
                return
            time.sleep(0.01)
    raise AssertionError("the projector never waited for the swap's lock")


def test_readers_never_see_an_error_or_a_partial_read_model(fresh_store: EventStore, fresh_database_url) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=51, accounts=10, operations=200)
    wait_until_final(fresh_store)
    Projector(fresh_store.pool).catch_up()
    with fresh_store.pool.connection() as conn:
        expected = conn.execute(
            "SELECT count(*), sum(ledger_balance), (SELECT count(*) FROM projections.account_entries) "
            "FROM projections.account_balances"
        ).fetchone()
    stop, seen, errors = threading.Event(), [], []

    def read() -> None:
        with psycopg.connect(fresh_database_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.append(
                        conn.execute(
                            "SELECT count(*), sum(ledger_balance), (SELECT count(*) FROM projections.account_entries) "
                            "FROM projections.account_balances"
                        ).fetchone()
                    )
                except psycopg.Error as error:
                    errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        time.sleep(0.1)
        rebuild(fresh_database_url)
        time.sleep(0.1)
    finally:
        stop.set()
        for reader in readers:
            reader.join()

    assert errors == []
    assert len(seen) > 10
    assert set(seen) == {expected}


@pytest.mark.parametrize("fault_at", [*(phase for phase in PHASES if phase != "retire"), "swap: renamed"])
def test_a_fault_before_the_swap_commits_leaves_the_live_read_model_intact(
    fresh_store: EventStore, fresh_database_url: str, fault_at: str
) -> None:
    handler = CommandHandler(fresh_store)
    build_random_bank(handler, seed=61, accounts=6, operations=120)
    wait_until_final(fresh_store)
    Projector(fresh_store.pool, batch_size=50).catch_up()
    with fresh_store.pool.connection() as conn:
        before = whole_read_model(conn)

    def inject(progress: RebuildProgress) -> None:
        if fault_at == f"{progress.phase}: renamed" and progress.detail.startswith("renamed"):
            raise InjectedFault(fault_at)
        if fault_at == progress.phase and progress.done == 0:
            raise InjectedFault(fault_at)

    with pytest.raises(InjectedFault):
        rebuild(fresh_database_url, on_progress=inject)

    with fresh_store.pool.connection() as conn:
        assert whole_read_model(conn) == before
        assert schemas(conn) == {"projections"}
    build_random_bank(handler, seed=62, accounts=3, operations=40)  # the live read model still works
    wait_until_final(fresh_store)
    Projector(fresh_store.pool).catch_up()
    assert_read_model_matches_events(fresh_store)


def test_a_rebuild_after_a_died_rebuild_works(fresh_store: EventStore, fresh_database_url: str) -> None:
    build_random_bank(CommandHandler(fresh_store), seed=71, accounts=6, operations=120)
    wait_until_final(fresh_store)
    Projector(fresh_store.pool).catch_up()
    with fresh_store.pool.connection() as conn:
        before = whole_read_model(conn)
        # What a rebuild killed outright leaves: a half-loaded shadow, or a retired schema it never dropped.
        for leftover in (SHADOW_SCHEMA, RETIRED_SCHEMA):
            conn.execute(f"CREATE SCHEMA {leftover}")
            conn.execute(f"CREATE TABLE {leftover}.account_entries (account_id text)")
            conn.execute(f"INSERT INTO {leftover}.account_entries VALUES ('half-loaded')")

    rebuild(fresh_database_url)

    with fresh_store.pool.connection() as conn:
        assert whole_read_model(conn) == before
        assert schemas(conn) == {"projections"}


def test_two_rebuilds_at_once_are_refused(fresh_store: EventStore, fresh_database_url: str) -> None:
    from bank_pipeline.projections.rebuild import RebuildAlreadyRunning

    build_random_bank(CommandHandler(fresh_store), seed=81, accounts=3, operations=30)
    outcome: dict[str, BaseException] = {}

    def second(progress: RebuildProgress) -> None:
        if progress.phase == "read" and "second" not in outcome:
            try:
                rebuild(fresh_database_url)
            except RebuildAlreadyRunning as refused:
                outcome["second"] = refused

    wait_until_final(fresh_store)
    rebuild(fresh_database_url, on_progress=second)
    assert isinstance(outcome["second"], RebuildAlreadyRunning)
    assert_read_model_matches_events(fresh_store)


def test_the_operator_commands_rebuild_and_report_the_read_model(
    fresh_store: EventStore, fresh_database_url: str, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from bank_pipeline.cli.main import app
    from bank_pipeline.settings import get_settings

    build_random_bank(CommandHandler(fresh_store), seed=91, accounts=4, operations=60)
    wait_until_final(fresh_store)
    events = len(all_events(fresh_store))
    monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", fresh_database_url)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        behind = runner.invoke(app, ["projections", "status", "--exact"])
        rebuilt = runner.invoke(app, ["projections", "rebuild"])
        current = runner.invoke(app, ["projections", "status", "--exact"])
    finally:
        get_settings.cache_clear()

    assert behind.exit_code == 0, behind.output
    assert f"behind: {events:,} final events not projected yet" in behind.output
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"rebuilt and swapped in: {events:,} events" in rebuilt.output
    assert current.exit_code == 0, current.output
    assert "behind: 0 final events" in current.output
    with fresh_store.pool.connection() as conn:
        (entries,) = conn.execute("SELECT count(*) FROM projections.account_entries").fetchone()
    (entries_line,) = [line for line in current.output.splitlines() if "account_entries" in line]
    assert f" {entries:,} " in entries_line
    assert_read_model_matches_events(fresh_store)


def test_a_rebuild_keeps_the_privileges_readers_have(
    fresh_store: EventStore, fresh_database_url: str, unique: str
) -> None:
    role = f"bp_reader_{unique}"
    build_random_bank(CommandHandler(fresh_store), seed=95, accounts=3, operations=30)
    wait_until_final(fresh_store)
    with fresh_store.pool.connection() as conn:
        conn.execute(f"CREATE ROLE {role}")
        try:
            conn.execute(f"GRANT USAGE ON SCHEMA projections TO {role}")
            conn.execute(f"GRANT SELECT ON projections.account_balances TO {role}")
            rebuild(fresh_database_url)
            granted = conn.execute(
                "SELECT has_schema_privilege(%s, 'projections', 'USAGE'), "
                "has_table_privilege(%s, 'projections.account_balances', 'SELECT'), "
                "has_table_privilege(%s, 'projections.account_entries', 'SELECT')",
                (role, role, role),
            ).fetchone()
        finally:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")
    assert granted == (True, True, False)
