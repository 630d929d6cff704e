"""Replay to any instant: the read model's answer as of T equals a naive fold of the events known at T, by
business time and by system time, at instants hypothesis draws around and between the events."""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bank_pipeline.application import CommandHandler
from bank_pipeline.bench import replay as bench_replay
from bank_pipeline.cli.main import app
from bank_pipeline.db.connection import connect
from bank_pipeline.db.connection import pool as make_pool
from bank_pipeline.db.databases import create_database, drop_database
from bank_pipeline.domain import commands as c
from bank_pipeline.domain.aggregates import fold
from bank_pipeline.domain.events import event_from_stored
from bank_pipeline.projections.catching_up import catch_up_with_committed_events
from bank_pipeline.projections.replay import (
    AccountNotFound,
    InvalidReplayRequest,
    account_as_of,
    parse_instant,
)
from bank_pipeline.settings import get_settings
from bank_pipeline.store import EventStore, RecordedEvent
from bank_pipeline_tests.projections.random_bank import AWKWARD, CLOSED, build_awkward_accounts, build_random_bank
from bank_pipeline_tests.projections.reference import all_events, by_stream, fold_stream

SEEDS = (41, 42, 43)
TIME_OF = {"business": "occurred_at", "system": "recorded_at"}
ENTRY_TYPES = ("AccountCredited", "AccountDebited")
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Bank:
    url: str
    store: EventStore
    streams: dict[str, list[RecordedEvent]]  # account id -> its events in stream order
    last_event: RecordedEvent


@pytest.fixture(scope="module")
def bank(server_url: str, template_database: str) -> Iterator[Bank]:
    """Random banks (back-dated entries included) built once for the module in their own database, projected."""
    name = f"bp_test_replay_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name, template=template_database)
    try:
        with make_pool(url, max_size=4) as pool:
            store = EventStore(pool)
            handler = CommandHandler(store)
            for seed in SEEDS:
                build_random_bank(handler, seed=seed, accounts=6, operations=150)
            build_awkward_accounts(handler)
            # Every event final and projected (a long transaction elsewhere on the server can hold that back).
            caught_up = catch_up_with_committed_events(pool, timeout=120)
            assert caught_up.complete, caught_up.describe()
            events = all_events(store)
            assert events[-1].checkpoint == caught_up.reached
            streams = {
                stream[0].payload["account_id"]: stream
                for stream_id, stream in by_stream(events).items()
                if stream_id.startswith("account-")
            }
            yield Bank(url, store, streams, events[-1])
    finally:
        drop_database(server_url, name)


# -- the naive answer ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    existed: bool
    status: str | None = None
    ledger_balance: int = 0
    held_amount: int = 0
    available_balance: int = 0
    open_holds: frozenset[tuple[str, int]] = frozenset()
    recent: tuple[tuple[int, int], ...] = ()  # (stream_version, balance after) newest first


def naive_answer(stream: list[RecordedEvent], by: str, as_of: datetime, recent: int) -> Expected:
    time = TIME_OF[by]
    known = [e for e in stream if getattr(e, time) <= as_of]
    if not any(e.event_type == "AccountOpened" for e in known):
        return Expected(existed=False)
    # By business time a release can be back-dated before its hold's placement: at an instant between the two
    # the release is known and the hold is not. Nothing was held then; the domain's fold would refuse the
    # release, so it is left out of the fold (a release of a hold not placed yet changes nothing).
    placed = {e.payload["hold_id"] for e in known if e.event_type == "HoldPlaced"}
    foldable = [e for e in stream if e.event_type != "HoldReleased" or e.payload["hold_id"] in placed]
    state = fold_stream(foldable, known_by=time, as_of=as_of)

    entries = sorted(
        (e for e in known if e.event_type in ENTRY_TYPES), key=lambda e: (getattr(e, time), e.stream_version)
    )
    balances, running = [], 0
    for entry in entries:
        running += entry.payload["amount"] if entry.event_type == "AccountCredited" else -entry.payload["amount"]
        balances.append((entry.stream_version, running))
    return Expected(
        existed=True,
        status=state.status,
        ledger_balance=state.ledger_balance,
        held_amount=state.held_amount,
        available_balance=state.available_balance,
        open_holds=frozenset((h.hold_id, h.amount) for h in state.holds),
        recent=tuple(reversed(balances))[:recent],
    )


def answered(answer) -> Expected:
    return Expected(
        existed=answer.existed,
        status=answer.status,
        ledger_balance=answer.ledger_balance,
        held_amount=answer.held_amount,
        available_balance=answer.available_balance,
        open_holds=frozenset((h.hold_id, h.amount) for h in answer.holds),
        recent=tuple((e.stream_version, e.balance) for e in answer.recent),
    )


# -- instants ------------------------------------------------------------------------------------------------


@st.composite
def instants(draw, stream: list[RecordedEvent]) -> datetime:
    """Exactly at an event's business or system time, a microsecond either side, between two events, before
    the account was opened or after its last event; sometimes written with another offset than UTC."""
    times = sorted({e.occurred_at for e in stream} | {e.recorded_at for e in stream})
    near = draw(st.sampled_from(times))
    kind = draw(st.sampled_from(["at", "just before", "just after", "near", "anywhere"]))
    if kind == "at":
        instant = near
    elif kind == "just before":
        instant = near - MICROSECOND
    elif kind == "just after":
        instant = near + MICROSECOND
    elif kind == "near":
        instant = near + draw(st.timedeltas(min_value=-timedelta(hours=6), max_value=timedelta(hours=6)))
    else:
        low, high = times[0] - timedelta(days=3), times[-1] + timedelta(days=3)
        instant = draw(
            st.datetimes(
                min_value=low.replace(tzinfo=None), max_value=high.replace(tzinfo=None), timezones=st.just(UTC)
            )
        )
    offset = draw(st.sampled_from([timedelta(0), timedelta(hours=5, minutes=30), -timedelta(hours=8)]))
    return instant.astimezone(timezone(offset))


# -- the property --------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_answer_as_of_any_instant_equals_a_fold_of_the_events_known_then(bank: Bank, data) -> None:
    account_id = data.draw(st.sampled_from(sorted(bank.streams)) | st.just(AWKWARD), label="account")
    stream = bank.streams[account_id]
    as_of = data.draw(instants(stream), label="as_of")
    by = data.draw(st.sampled_from(["business", "system"]), label="by")
    recent = data.draw(st.integers(min_value=0, max_value=25), label="recent")

    with bank.store.pool.connection() as conn:
        answer = account_as_of(conn, account_id, as_of, by=by, recent=recent)
    expected = naive_answer(stream, by, as_of, recent)
    note(f"answer: {answer}")

    assert answered(answer) == expected
    assert answer.checkpoint == bank.last_event.checkpoint
    opening = stream[0]
    assert opening.event_type == "AccountOpened"
    assert answer.opened_at == getattr(opening, TIME_OF[by])
    assert (answer.customer_id, answer.currency) == (opening.payload["customer_id"], opening.payload["currency"])
    for entry in answer.recent:
        assert getattr(entry, TIME_OF[by]) <= as_of


def test_the_histories_hold_the_awkward_cases(bank: Bank) -> None:
    """The property above is only as good as the histories it draws from."""
    stream = bank.streams[AWKWARD]
    opening, *later = stream
    kinds = [e.event_type for e in later]
    assert any(e.occurred_at < opening.occurred_at for e in later if e.event_type in ENTRY_TYPES)
    freeze, unfreeze = later[kinds.index("AccountFrozen")], later[kinds.index("AccountUnfrozen")]
    assert unfreeze.occurred_at < freeze.occurred_at
    placed, released = later[kinds.index("HoldPlaced")], later[kinds.index("HoldReleased")]
    assert released.occurred_at < placed.occurred_at
    assert bank.streams[CLOSED][-1].event_type == "AccountClosed"
    back_dated = [
        e for s in bank.streams.values() for e in s
        if e.event_type in ENTRY_TYPES and any(o.occurred_at > e.occurred_at for o in s[: e.stream_version - 1])
    ]  # fmt: skip
    assert len(back_dated) >= 10


def test_the_replay_bench_histories_are_valid_account_streams() -> None:
    """`bench replay` appends its histories without the command path: the domain must fold them, with each
    entry's balance_after the running balance in stream order and every release of a hold placed before."""
    plan = bench_replay.ReplayPlan(accounts=10, min_entries=200, max_entries=300, queries=0, baseline_queries=0, seed=3)
    streams: dict[str, list] = {}
    for batch in bench_replay.history_batches(plan):
        for event in batch:
            streams.setdefault(event.stream_id, []).append(event)
    assert len(streams) == 10
    back_dated = 0
    for events in streams.values():
        state = fold(event_from_stored(e.event_type, e.schema_version, e.payload) for e in events)
        entries = [e for e in events if e.event_type in ENTRY_TYPES]
        assert 200 <= len(entries) <= 300
        assert state.ledger_balance == entries[-1].payload["balance_after"]
        back_dated += sum(e.occurred_at < max(o.occurred_at for o in events[:i]) for i, e in enumerate(events) if i)
    assert back_dated >= 10


# -- the typed outcomes --------------------------------------------------------------------------------------


def test_an_unknown_account_is_not_found(bank: Bank) -> None:
    with bank.store.pool.connection() as conn, pytest.raises(AccountNotFound, match="no-such-account") as raised:
        account_as_of(conn, "no-such-account", datetime.now(UTC))
    assert raised.value.checkpoint == bank.last_event.checkpoint


@pytest.mark.parametrize("by", ["business", "system"])
def test_an_account_not_opened_yet_did_not_exist(bank: Bank, by: str) -> None:
    account_id, stream = sorted(bank.streams.items())[0]
    opened_at = getattr(stream[0], TIME_OF[by])
    with bank.store.pool.connection() as conn:
        before = account_as_of(conn, account_id, opened_at - MICROSECOND, by=by)
        at = account_as_of(conn, account_id, opened_at, by=by)
    assert not before.existed and before.opened_at == opened_at
    assert (before.status, before.ledger_balance, before.holds, before.recent) == (None, 0, (), ())
    assert at.existed and at.status == "open"


def test_a_naive_datetime_and_other_bad_requests_are_refused(bank: Bank) -> None:
    account_id = sorted(bank.streams)[0]
    with bank.store.pool.connection() as conn:
        with pytest.raises(InvalidReplayRequest, match="no time zone"):
            account_as_of(conn, account_id, datetime(2026, 11, 3, 12, 0))
        with pytest.raises(InvalidReplayRequest, match="business, system"):
            account_as_of(conn, account_id, datetime.now(UTC), by="yesterday")  # type: ignore[arg-type]
        with pytest.raises(InvalidReplayRequest, match="recent"):
            account_as_of(conn, account_id, datetime.now(UTC), recent=-1)


def test_instants_are_read_as_iso_8601_with_an_offset_and_a_date_is_the_end_of_its_utc_day() -> None:
    assert parse_instant("2026-11-02T09:30:00+01:00") == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert parse_instant("2026-11-02T08:30Z") == datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
    assert parse_instant("2026-11-02") == datetime(2026, 11, 2, 23, 59, 59, 999_999, tzinfo=UTC)
    with pytest.raises(InvalidReplayRequest, match="no offset"):
        parse_instant("2026-11-02T09:30:00")
    with pytest.raises(InvalidReplayRequest, match="not an ISO 8601 instant"):
        parse_instant("yesterday")


def test_catching_up_waits_for_events_to_be_final_and_says_when_they_were_not(fresh_store, fresh_database_url):
    handler = CommandHandler(fresh_store)
    handler.execute(c.RegisterCustomer("cust-1", "Ada", "ada@example.org", "1 Test St"))
    with connect(fresh_database_url, autocommit=False) as older:
        older.execute("SELECT pg_current_xact_id()")  # a transaction older than the next event, still running
        result = handler.execute(c.ChangeKycStatus("cust-1", "verified"))
        blocked = catch_up_with_committed_events(fresh_store.pool, timeout=0.3)
        assert not blocked.complete and blocked.wanted == result.checkpoint and blocked.reached < result.checkpoint
        assert "still running" in blocked.describe()
    done = catch_up_with_committed_events(fresh_store.pool)
    assert done.complete and done.reached == result.checkpoint and blocked.events + done.events == 2


# -- the command ------------------------------------------------------------------------------------------


runner = CliRunner()


@pytest.fixture
def configured(monkeypatch):
    """Point the CLI at a given database."""

    def use(url: str) -> None:
        monkeypatch.setenv("BANK_PIPELINE_DATABASE_URL", url)
        get_settings.cache_clear()

    yield use
    get_settings.cache_clear()


def test_the_command_prints_json_equal_to_the_answer(bank: Bank, configured) -> None:
    configured(bank.url)
    account_id, stream = sorted(bank.streams.items())[1]
    as_of = stream[len(stream) // 2].occurred_at
    result = runner.invoke(
        app, ["replay", "--account", account_id, "--as-of", as_of.isoformat(), "--by", "business", "--json"]
    )
    assert result.exit_code == 0, result.output
    with bank.store.pool.connection() as conn:
        expected = account_as_of(conn, account_id, as_of, by="business")
    assert json.loads(result.stdout) == expected.to_json()


def test_the_command_prints_tables_and_a_date_means_the_end_of_that_day(bank: Bank, configured) -> None:
    configured(bank.url)
    account_id = sorted(bank.streams)[0]
    result = runner.invoke(app, ["replay", "--account", account_id, "--as-of", "2026-11-03"])
    assert result.exit_code == 0, result.output
    assert f"account {account_id} as of 2026-11-03T23:59:59.999999+00:00" in result.stdout
    assert "ledger balance" in result.stdout and "Newest entries" in result.stdout

    system = runner.invoke(app, ["replay", "--account", account_id, "--as-of", "2026-11-03", "--by", "system"])
    assert system.exit_code == 0, system.output
    assert "did not exist yet" in system.stdout  # the bank recorded the account later (the tests run after 2026-11-03)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--account", "no-such-account", "--as-of", "2026-11-03"], "not in the read model"),
        (["--account", "x", "--as-of", "2026-11-03T10:00"], "has no offset"),
        (["--account", "x", "--as-of", "soon"], "not an ISO 8601 instant"),
    ],
)
def test_the_command_exits_non_zero_with_a_message(bank: Bank, configured, arguments, message) -> None:
    configured(bank.url)
    result = runner.invoke(app, ["replay", *arguments])
    assert result.exit_code == 1
    assert message in result.stderr


def test_the_command_catches_the_read_model_up_first_unless_told_not_to(fresh_store, fresh_database_url, configured):
    configured(fresh_database_url)
    handler = CommandHandler(fresh_store)
    handler.execute(c.RegisterCustomer("cust-1", "Ada", "ada@example.org", "1 Test St"))
    handler.execute(c.ChangeKycStatus("cust-1", "verified"))
    handler.execute(c.OpenAccount("acct-1", "cust-1", "EUR", "current", 0))
    handler.execute(c.CreditAccount("acct-1", 12_345, "EUR", "in-1", "Employer", "salary"))
    now = datetime.now(UTC).isoformat()

    stale = runner.invoke(app, ["replay", "--account", "acct-1", "--as-of", now, "--no-catch-up"])
    assert stale.exit_code == 1 and "not in the read model" in stale.stderr

    current = runner.invoke(app, ["replay", "--account", "acct-1", "--as-of", now, "--json"])
    assert current.exit_code == 0, current.output
    document = json.loads(current.stdout)
    assert (document["ledger_balance"], document["status"], len(document["recent"])) == (12_345, "open", 1)
