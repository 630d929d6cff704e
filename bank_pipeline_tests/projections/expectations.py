"""The read model's one truth test: every projected table equals a fold of the stored events."""

from bank_pipeline.domain.account import AccountState
from bank_pipeline.domain.customer import CustomerState
from bank_pipeline.store import EventStore
from bank_pipeline_tests.projections.reference import all_events, by_stream, fold_stream


def assert_read_model_matches_events(store: EventStore) -> None:
    events = all_events(store)
    streams = by_stream(events)
    with store.pool.connection() as conn:
        balances = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT account_id, customer_id, currency, status, ledger_balance, held_amount, available_balance, "
                "version, overdraft_limit FROM projections.account_balances"
            )
        }
        customers = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT customer_id, name, email, address, kyc_status, status, version FROM projections.customers"
            )
        }
        entries = conn.execute(
            "SELECT account_id, stream_version, direction, amount, balance_after, business_balance, known_balance "
            "FROM projections.account_entries ORDER BY account_id, stream_version"
        ).fetchall()
        daily = conn.execute(
            "SELECT account_id, business_day, opening_balance, credits, debits, closing_balance, entry_count "
            "FROM projections.daily_balances ORDER BY account_id, business_day"
        ).fetchall()
        links = set(conn.execute("SELECT customer_id, account_id FROM projections.customer_accounts").fetchall())

    expected_accounts, expected_customers, expected_links = {}, {}, set()
    expected_entries, expected_daily = [], {}
    for stream in streams.values():
        state = fold_stream(stream)
        if isinstance(state, AccountState):
            expected_accounts[state.account_id] = (
                state.customer_id,
                state.currency,
                state.status,
                state.ledger_balance,
                state.held_amount,
                state.available_balance,
                stream[-1].stream_version,
                state.overdraft_limit,
            )
            expected_links.add((state.customer_id, state.account_id))
            ledger = [e for e in stream if e.event_type in ("AccountCredited", "AccountDebited")]
            signed = {
                e.stream_version: (1 if e.event_type == "AccountCredited" else -1) * e.payload["amount"] for e in ledger
            }
            for e in ledger:
                key_business = (e.occurred_at, e.stream_version)
                key_known = (e.recorded_at, e.stream_version)
                expected_entries.append(
                    (
                        state.account_id,
                        e.stream_version,
                        "credit" if e.event_type == "AccountCredited" else "debit",
                        e.payload["amount"],
                        e.payload["balance_after"],
                        sum(
                            signed[o.stream_version]
                            for o in ledger
                            if (o.occurred_at, o.stream_version) <= key_business
                        ),
                        sum(signed[o.stream_version] for o in ledger if (o.recorded_at, o.stream_version) <= key_known),
                    )
                )
            for day in sorted({e.occurred_at.date() for e in ledger}):
                on_day = sorted(
                    (e for e in ledger if e.occurred_at.date() == day), key=lambda e: (e.occurred_at, e.stream_version)
                )
                before = sum(signed[o.stream_version] for o in ledger if o.occurred_at.date() < day)
                credits = sum(e.payload["amount"] for e in on_day if e.event_type == "AccountCredited")
                debits = sum(e.payload["amount"] for e in on_day if e.event_type == "AccountDebited")
                expected_daily[(state.account_id, day)] = (
                    before,
                    credits,
                    debits,
                    before + credits - debits,
                    len(on_day),
                )
        elif isinstance(state, CustomerState):
            expected_customers[state.customer_id] = (
                state.name,
                state.email,
                state.address,
                state.kyc_status,
                "closed" if state.closed else "active",
                stream[-1].stream_version,
            )

    assert balances == expected_accounts
    assert customers == expected_customers
    assert links == expected_links
    assert entries == sorted(expected_entries)
    assert {(row[0], row[1]): row[2:] for row in daily} == expected_daily
