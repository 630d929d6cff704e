"""`bank-pipeline fraud`: the fast-path detector in the foreground, and the alerts it raised."""

import json
import logging

import typer
from rich.console import Console
from rich.table import Table

from bank_pipeline.cli.errors import fail, operator_errors
from bank_pipeline.fraud.detector import DEFAULT_BATCH_SIZE
from bank_pipeline.fraud.worker import DEFAULT_POLL_INTERVAL

app = typer.Typer(help="Fraud detection on the event stream.", no_args_is_help=True)


@app.command()
@operator_errors
def worker(
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, min=1, help="Events judged per transaction at most."),
    poll_interval: float = typer.Option(
        DEFAULT_POLL_INTERVAL, min=0.01, help="Seconds between looks for new events when no NOTIFY wakes it."
    ),
    freeze: bool = typer.Option(
        True, "--freeze/--no-freeze", help="Freeze the account of every high-severity alert (an audited command)."
    ),
) -> None:
    """Judge every entry as soon as it is final with the fraud rules, record the alerts (schema `fraud`) and
    freeze the accounts of high-severity ones. Logs to stderr; SIGTERM or Ctrl-C stops it after the current
    batch. After a crash, start it again: it resumes from its checkpoint, no event skipped, no alert twice."""
    from bank_pipeline.fraud.configuration import load_thresholds
    from bank_pipeline.fraud.worker import FraudWorker
    from bank_pipeline.runtime import Runtime
    from bank_pipeline.store.stream_worker import run_until_signalled

    limits = load_thresholds()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    url = Runtime.open().url
    run_until_signalled(
        FraudWorker(url, limits=limits, batch_size=batch_size, poll_interval=poll_interval, freeze_on_high=freeze)
    )


@app.command()
@operator_errors
def alerts(
    account: str | None = typer.Option(None, "--account", help="Only this account's alerts."),
    limit: int = typer.Option(50, min=1, max=10_000, help="How many of the newest alerts."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document per line instead of a table."),
) -> None:
    """The newest fraud alerts: rule, severity, score, the event that set them off, and what was done."""
    from bank_pipeline.runtime import Runtime

    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        if conn.execute("SELECT to_regclass('fraud.alerts')").fetchone()[0] is None:
            fail("the database has no fraud schema yet: run `bank-pipeline db migrate` first")
        rows = conn.execute(
            "SELECT a.alert_id, a.rule, a.severity, a.score::float, a.account_id, a.global_position, a.occurred_at, "
            "       extract(epoch FROM a.detected_at - a.recorded_at) * 1000, a.action, v.verdict, a.evidence "
            "  FROM fraud.alerts a JOIN fraud.alert_verdicts v USING (alert_id) "
            " WHERE %(account)s::text IS NULL OR a.account_id = %(account)s "
            " ORDER BY a.alert_id DESC LIMIT %(limit)s",
            {"account": account, "limit": limit},
        ).fetchall()
    if as_json:
        keys = ("alert_id", "rule", "severity", "score", "account_id", "position", "occurred_at", "latency_ms",
                "action", "verdict", "evidence")  # fmt: skip
        for row in rows:
            document = dict(zip(keys, row, strict=True))
            document["occurred_at"] = document["occurred_at"].isoformat()
            document["latency_ms"] = round(float(document["latency_ms"]), 1)
            typer.echo(json.dumps(document))
        return
    table = Table("alert", "rule", "severity", "score", "account", "event", "business time", "ms", "action", "verdict")
    for alert_id, rule, severity, score, account_id, position, occurred_at, latency, action, verdict, _ in rows:
        table.add_row(
            str(alert_id), rule, severity, f"{score:.2f}", account_id, str(position), occurred_at.isoformat(),
            f"{float(latency):.0f}", action or "", verdict or "",
        )  # fmt: skip
    Console().print(table)


@app.command()
@operator_errors
def review(
    alert_id: int = typer.Argument(..., help="The alert (see `bank-pipeline fraud alerts`)."),
    verdict: str = typer.Argument(..., help="fraud (confirmed) or legitimate (a false positive)."),
    by: str = typer.Option(..., "--by", help="Who reviewed it: recorded with the verdict."),
    note: str | None = typer.Option(None, "--note", help="Why, for the next investigator."),
) -> None:
    """Record an investigator's verdict on an alert. Reviews are kept (a new one supersedes, never replaces, the
    last); the daily fraud metrics count them as the detector's precision per rule. Unfreezing a legitimate
    account stays a separate, audited command."""
    from bank_pipeline.fraud.reviews import VERDICTS, UnknownAlert, review_alert
    from bank_pipeline.runtime import Runtime

    if verdict not in VERDICTS:
        fail(f"the verdict is one of {', '.join(VERDICTS)}, not {verdict!r}")
    with Runtime.open() as runtime, runtime.pool.connection() as conn:
        try:
            recorded = review_alert(conn, alert_id, verdict, by, note)
        except (UnknownAlert, ValueError) as error:
            fail(str(error))
    typer.echo(
        f"alert {alert_id}: {recorded.verdict}, reviewed by {recorded.reviewed_by} (review {recorded.review_id})"
    )


@app.command()
@operator_errors
def thresholds() -> None:
    """The fraud rules' thresholds in force: the defaults, overridden by the TOML file that
    BANK_PIPELINE_FRAUD_THRESHOLDS names (durations in seconds or ISO 8601, amounts in major units)."""
    from dataclasses import asdict
    from datetime import timedelta

    from bank_pipeline.domain.fraud import FraudThresholds
    from bank_pipeline.fraud.configuration import load_thresholds

    limits = load_thresholds()
    defaults = asdict(FraudThresholds())
    table = Table("threshold", "value", "default")
    for name, value in asdict(limits).items():
        shown = [f"{v.total_seconds():g} s" if isinstance(v, timedelta) else str(v) for v in (value, defaults[name])]
        table.add_row(name, shown[0] if value == defaults[name] else f"[bold]{shown[0]}[/]", shown[1])
    Console().print(table)
