"""`bank-pipeline bench ...`: performance goals, each measured against a baseline in the same run."""

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from bank_pipeline.cli.errors import fail, operator_errors

app = typer.Typer(
    help="Benchmarks that print our figures next to a baseline measured in the same run.", no_args_is_help=True
)

KEEP_HELP = "Keep the bench database(s) afterwards for inspection (they are re-created by the next run)."


@app.command()
@operator_errors
def transfers(
    clients: int = typer.Option(8, min=1, help="Concurrent clients (and pgbench clients)."),
    seconds: int = typer.Option(20, min=1, help="Duration of each measured phase."),
    accounts: int = typer.Option(10_000, min=2, help="Funded accounts the transfers pick from."),
    path: str = typer.Option(
        "bus",
        help="bus: client threads of one process share a CommandBus (group commit); "
        "handler: one process per client, each with its own CommandHandler.",
    ),
    seed: int = typer.Option(None, help="Random seed (default: a new one each run)."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """Internal transfers through the command path from N clients vs pgbench TPC-B (goal: ≥ 0.5×)."""
    from bank_pipeline.bench import transfers as bench_transfers

    console = Console()
    with _bench_errors():
        report = bench_transfers.run(
            clients=clients, seconds=seconds, accounts=accounts, keep=keep, seed=seed, console=console, path=path
        )
    bench_transfers.render(report, console)


@app.command()
@operator_errors
def ordering(
    clients: int = typer.Option(8, min=1, help="Concurrent appending processes."),
    seconds: int = typer.Option(10, min=1, help="Duration of each mode."),
    streams: int = typer.Option(10_000, min=2, help="Streams the two-event appends pick from."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """Our commit-safe ordering (no global lock) vs the global-lock alternative, same appends, same run."""
    from bank_pipeline.bench import ordering as bench_ordering

    console = Console()
    with _bench_errors():
        outcomes = bench_ordering.run(clients=clients, seconds=seconds, streams=streams, keep=keep, console=console)
    bench_ordering.render(outcomes, clients, console)


@app.command()
@operator_errors
def append(
    events: int = typer.Option(200_000, min=1, help="Events to append (and to COPY for the baseline)."),
    batch: int = typer.Option(1_000, min=1, help="Events per EventStore.append call."),
    streams: int = typer.Option(10_000, min=1, help="Streams the events are spread over."),
    clients: int = typer.Option(1, min=1, help="Appending processes (the baseline COPYs from as many)."),
    copy_format: str = typer.Option(
        "auto", help="Baseline COPY format: binary, text, or auto (both; the faster one counts)."
    ),
    seed: int = typer.Option(None, help="Random seed (default: a new one each run)."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """Batch appends through EventStore.append vs COPY of the same rows into the same table (goal: ≥ 0.5×)."""
    from bank_pipeline.bench import append as bench_append

    if copy_format not in ("auto", "binary", "text"):
        fail(f"--copy-format must be auto, binary or text, not {copy_format!r}")
    console = Console()
    with _bench_errors():
        report = bench_append.run(
            events=events,
            batch=batch,
            streams=streams,
            clients=clients,
            copy_format=copy_format,
            keep=keep,
            seed=seed,
            console=console,
        )
    bench_append.render(report, console)


@app.command()
@operator_errors
def simulate(
    customers: int = typer.Option(50_000, min=1, help="Customers of the simulated bank."),
    days: int = typer.Option(7, min=1, help="Business days simulated."),
    seed: int = typer.Option(1, help="Random seed."),
) -> None:
    """The simulator's transactions/s vs polars writing as many alike rows (goal: ≥ 200,000/s)."""
    from bank_pipeline.bench import simulate as bench_simulate

    console = Console()
    report = bench_simulate.run(customers=customers, days=days, seed=seed, console=console)
    bench_simulate.render(report, console)


@app.command()
@operator_errors
def ingest(
    customers: int = typer.Option(2_000, min=1, help="Customers of the simulated bank."),
    days: int = typer.Option(3, min=1, help="Business days simulated."),
    seed: int = typer.Option(11, help="Simulation seed."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """Landing files into the event store (read, validate, commands) vs raw COPY of the same events (goal: ≥ 0.5×)."""
    from bank_pipeline.bench import ingest as bench_ingest

    console = Console()
    report = bench_ingest.run(customers=customers, days=days, seed=seed, keep=keep, console=console)
    bench_ingest.render(report, console)


@app.command("projection-lag")
@operator_errors
def projection_lag(
    events_per_second: int = typer.Option(1_000, min=2, help="Events appended a second (internal transfers, 2 each)."),
    seconds: int = typer.Option(20, min=1, help="Duration of the measured phase."),
    accounts: int = typer.Option(2_000, min=2, help="Accounts the transfers pick from."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """The projection worker's lag (batch commit − recorded_at) under a steady append rate (goal: p99 ≤ 200 ms)."""
    from bank_pipeline.bench import projection_lag as bench_lag
    from bank_pipeline.bench.common import BENCH_DATABASE, bench_database

    console = Console()
    with _bench_errors(), bench_database(f"{BENCH_DATABASE}_projection_lag", keep=keep) as db:
        report = bench_lag.measure_lag(
            db.url, events_per_second=events_per_second, seconds=seconds, accounts=accounts, console=console
        )
    bench_lag.render(report, console)


@app.command()
@operator_errors
def replay(
    accounts: int = typer.Option(20_000, min=1, help="Accounts with a history."),
    min_entries: int = typer.Option(100, min=1, help="Fewest credits and debits an account has."),
    max_entries: int = typer.Option(500, min=1, help="Most credits and debits an account has."),
    queries: int = typer.Option(20_000, min=1, help="Random (account, instant, time dimension) queries of ours."),
    baseline_queries: int = typer.Option(2_000, min=1, help="How many of the same queries the naive replay runs."),
    seed: int = typer.Option(5, help="Random seed."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """An account as of a random instant from the projections vs a naive replay of its events (goal: p99 ≤ 5 ms)."""
    from bank_pipeline.bench import replay as bench_replay

    if max_entries < min_entries:
        fail("--max-entries must be at least --min-entries")
    plan = bench_replay.ReplayPlan(accounts, min_entries, max_entries, queries, baseline_queries, seed)
    console = Console()
    report = bench_replay.run(plan=plan, keep=keep, console=console)
    bench_replay.render(report, console)


@app.command()
@operator_errors
def projections(
    events: int = typer.Option(1_000_000, min=1, help="Events of realistic account histories to load first."),
    seed: int = typer.Option(1, help="Random seed of the histories."),
    lag_seconds: int = typer.Option(20, min=0, help="Duration of the worker-lag phase afterwards (0: skip it)."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """Full read-model rebuild vs a raw COPY TO of the same events (goals: ≥ 500 k events/s, ≥ 0.3×), then lag."""
    from bank_pipeline.bench import projections as bench_projections

    console = Console()
    with _bench_errors():
        report = bench_projections.run(events=events, seed=seed, lag_seconds=lag_seconds, keep=keep, console=console)
    bench_projections.render(report, console)


@app.command()
@operator_errors
def statements(
    accounts: int = typer.Option(20_000, min=1, help="Accounts, one statement each for the measured month."),
    entries: int = typer.Option(40, min=1, help="Entries per account per month."),
    format_sample: int = typer.Option(500, min=1, help="Statements rendered as PDF, camt.053 and MT940."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """A month of statements: data + CSV vs a raw COPY of the same entries (goal ≥ 5,000/s); PDF per core
    (goal ≥ 100/s), camt.053 and MT940."""
    from bank_pipeline.bench import statements as bench_statements

    console = Console()
    report = bench_statements.run(accounts=accounts, entries=entries, format_sample=format_sample, keep=keep,
                                  console=console)  # fmt: skip
    bench_statements.render(report, console)


@app.command()
@operator_errors
def fraud(
    events_per_second: int = typer.Option(
        1_000, min=2, help="Events appended a second (internal transfers, 2 each; card-test debits, 1 each)."
    ),
    seconds: int = typer.Option(20, min=1, help="Duration of the measured phase."),
    accounts: int = typer.Option(2_000, min=2, help="Accounts the transfers pick from."),
    burst_every: float = typer.Option(
        0.5, min=0.05, help="Seconds between card-testing bursts, each on an account of its own."
    ),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """Fraud fast path: commit → alert latency under a steady load with card testing (goal: p99 ≤ 50 ms at 1,000/s)."""
    from bank_pipeline.bench import fraud as bench_fraud

    if burst_every > seconds:
        fail("--burst-every must not be longer than --seconds")
    console = Console()
    with _bench_errors():
        report = bench_fraud.run(events_per_second=events_per_second, seconds=seconds, accounts=accounts,
                                 burst_every=burst_every, keep=keep, console=console)  # fmt: skip
    bench_fraud.render(report, console)


@app.command("fraud-quality")
@operator_errors
def fraud_quality(
    customers: int = typer.Option(
        20_000, min=1, help="Customers of the simulated bank (one instance of each fraud pattern per 4,000)."
    ),
    days: int = typer.Option(5, min=2, help="Business days simulated (fraud starts on the second)."),
    seed: int = typer.Option(90_210, help="Simulation seed (default: the scoring seed, never used for tuning)."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """The fraud fast path's alerts scored against the simulator's labels (goal: recall ≥ 0.9 at precision ≥ 0.8)."""
    from bank_pipeline.bench import fraud_quality as bench_fraud_quality

    console = Console()
    report = bench_fraud_quality.run(customers=customers, days=days, seed=seed, keep=keep, console=console)
    bench_fraud_quality.render(report, console)


@app.command()
@operator_errors
def archive(
    events: int = typer.Option(1_000_000, min=1, help="Events of realistic account histories in the archived month."),
    queries: int = typer.Option(2_000, min=1, help="Balance-as-of reads in the archived month (random accounts)."),
    replays: int = typer.Option(50, min=1, help="Accounts replayed from the archive file (each reads the file)."),
    seed: int = typer.Option(1, help="Random seed of the histories and the queries."),
    keep: bool = typer.Option(False, "--keep", help=KEEP_HELP),
) -> None:
    """A month archived to Parquet vs raw COPY of its partition (goals: ≤ 100 bytes/event, ≥ 500 k events/s), and
    the balance as of an instant in the archived month (goal: p99 ≤ 200 ms)."""
    from bank_pipeline.bench import archive as bench_archive

    console = Console()
    with _bench_errors():
        report = bench_archive.run(events=events, queries=queries, replays=replays, seed=seed, keep=keep,
                                   console=console)  # fmt: skip
    bench_archive.render(report, console)


@app.command("api")
@operator_errors
def api(
    accounts: int = typer.Option(1_000_000, min=2, help="Accounts in the read model."),
    entries: int = typer.Option(20_000_000, min=2, help="Entries in the read model (at least one per account)."),
    rate: int = typer.Option(1_000, min=1, help="Requests a second, open loop."),
    duration: int = typer.Option(30, min=1, help="Seconds of the measured phase."),
    warmup: int = typer.Option(5, min=0, help="Seconds of the same load before the measured phase."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes."),
    balance_share: float = typer.Option(0.5, min=0.0, max=1.0, help="Share of balance reads; the rest: history pages."),
    connections: int = typer.Option(0, min=0, help="Keep-alive connections of the load generator (0: rate/20, ≥ 8)."),
    client: str = typer.Option("raw", help="raw: HTTP/1.1 on asyncio streams; httpx: httpx.AsyncClient (to compare)."),
    app_factory: str = typer.Option(
        "bank_pipeline.api.app:create_app", "--app", help="The app factory uvicorn serves (module:callable)."
    ),
    seed: int = typer.Option(7, help="Random seed of the data set and the requests."),
    keep: bool = typer.Option(
        False, "--keep", help="Keep the loaded database, and reuse a kept one holding the same data set."
    ),
) -> None:
    """The API's balance and history reads at a steady open-loop rate vs their raw SQL, same run (goals at
    1,000 requests/s: p99 ≤ 10 ms and ≤ 20 ms)."""
    from bank_pipeline.bench import api as bench_api

    if entries < accounts:
        fail("--entries must be at least --accounts (every account has its opening deposit)")
    if client not in ("raw", "httpx"):
        fail("--client must be raw or httpx")
    options = bench_api.ApiBenchOptions(
        accounts=accounts, entries=entries, rate=rate, seconds=duration, warmup_seconds=warmup, workers=workers,
        balance_share=balance_share, connections=connections, client=client, seed=seed, keep=keep, app=app_factory,
    )  # fmt: skip
    console = Console()
    with _bench_errors():
        report = bench_api.run(options, console)
    bench_api.render(report, console)


@contextmanager
def _bench_errors() -> Iterator[None]:
    """A failed worker process or pgbench run: one clear line and exit code 1."""
    from bank_pipeline.bench.common import BenchFailed
    from bank_pipeline.bench.pgbench import PgbenchFailed

    try:
        yield
    except (BenchFailed, PgbenchFailed) as error:
        fail(str(error))
