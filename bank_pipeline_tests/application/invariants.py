"""Invariants of the whole bank, checked from the event store alone."""

from collections import Counter, defaultdict

from bank_pipeline.domain.aggregates import evolve
from bank_pipeline.domain.events import event_from_stored
from bank_pipeline.domain.snapshots import state_from_snapshot
from bank_pipeline.domain.streams import stream_category
from bank_pipeline.store import EventStore

DOMAIN_CATEGORIES = {"customer", "account", "transfer"}


def check_bank_invariants(store: EventStore) -> dict[str, int]:
    """Asserts the invariants and returns the ledger total per currency.

    - per currency, the sum of all ledger balances equals external money in minus money out;
    - no transfer leg was applied twice;
    - no account ever went beyond its overdraft (checked after every event, holds included);
    - every cached snapshot equals the fold of its stream's events.
    """
    events = list(store.iter_all())
    states: dict[str, object] = {}
    external: Counter = Counter()
    legs: Counter = Counter()
    for recorded in events:
        if stream_category(recorded.stream_id) not in DOMAIN_CATEGORIES:
            continue  # raw store-level test streams
        event = event_from_stored(recorded.event_type, recorded.schema_version, recorded.payload)
        state = states[recorded.stream_id] = evolve(states.get(recorded.stream_id), event)
        if recorded.event_type in ("AccountCredited", "AccountDebited"):
            legs[(recorded.stream_id, recorded.event_type, recorded.payload["transfer_id"])] += 1
            if recorded.payload["flow"] == "external":
                sign = 1 if recorded.event_type == "AccountCredited" else -1
                external[recorded.payload["currency"]] += sign * recorded.payload["amount"]
        if recorded.stream_id.startswith("account-"):
            assert state.available_balance >= -state.overdraft_limit, (
                f"{recorded.stream_id} went beyond its overdraft at position {recorded.global_position}"
            )
            assert all(hold.amount > 0 for hold in state.holds)

    twice = [leg for leg, count in legs.items() if count > 1]
    assert not twice, f"applied more than once: {twice[:5]}"

    totals: Counter = Counter()
    for stream_id, state in states.items():
        if stream_id.startswith("account-"):
            totals[state.currency] += state.ledger_balance
    assert _nonzero(totals) == _nonzero(external), (
        f"money not conserved: balances {dict(totals)} vs external flows {dict(external)}"
    )

    heads = store.stream_heads(states)
    for stream_id, state in states.items():
        head = heads[stream_id]
        assert head.snapshot is not None and state_from_snapshot(head.snapshot) == state, stream_id
    return dict(totals)


def _nonzero(amounts: Counter) -> dict[str, int]:
    return {currency: amount for currency, amount in amounts.items() if amount}


def counts_by_stream(store: EventStore) -> dict[str, int]:
    result: defaultdict[str, int] = defaultdict(int)
    for recorded in store.iter_all():
        result[recorded.stream_id] += 1
    return dict(result)
