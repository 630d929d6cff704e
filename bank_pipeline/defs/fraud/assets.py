import dagster as dg

from bank_pipeline.defs.projections.partitions import business_days, business_days_of
from bank_pipeline.defs.resources import BankDatabase
from bank_pipeline.fraud.metrics import day_figures, figures_markdown, overall_precision


@dg.asset(
    name="daily_fraud_metrics",
    group_name="fraud",
    owners=["team:fraud"],
    kinds={"postgres"},
    partitions_def=business_days,
    metadata={"source": "fraud.alerts (written by `bank-pipeline fraud worker`)"},
    description=(
        "Per business day: the fast path's alerts by rule and severity, the accounts they concern, the accounts "
        "frozen because of them, and how long after the triggering event's commit each alert was decided (p50, "
        "p99), and detection quality: the alerts investigators confirmed as fraud or dismissed as legitimate "
        "(`bank-pipeline fraud review`), and the precision they give per rule and overall. Quality against the "
        "simulator's labels (recall too) is `bank-pipeline bench fraud-quality`'s."
    ),
)
def daily_fraud_metrics(context: dg.AssetExecutionContext, bank_db: BankDatabase) -> dg.MaterializeResult:
    day, _ = business_days_of(context)
    with bank_db.runtime() as runtime, runtime.pool.connection() as conn:
        if conn.execute("SELECT to_regclass('fraud.alerts')").fetchone()[0] is None:
            raise dg.Failure("the database has no fraud schema yet: run `bank-pipeline db migrate` first")
        figures = day_figures(conn, day)
    return dg.MaterializeResult(
        metadata={
            "day": str(day),
            "alerts": sum(f.alerts for f in figures),
            "high_severity_alerts": sum(f.alerts for f in figures if f.severity == "high"),
            "accounts_frozen": sum(f.frozen for f in figures),
            "worst_latency_p99_ms": max((round(f.latency_p99_ms, 1) for f in figures), default=0.0),
            "alerts_reviewed": sum(f.confirmed + f.dismissed for f in figures),
            "alerts_confirmed_fraud": sum(f.confirmed for f in figures),
            "alerts_dismissed_legitimate": sum(f.dismissed for f in figures),
            # a float only once there is something to divide: 'n/a' before any review
            "precision_reviewed": _ratio(overall_precision(figures)),
            "by_rule": dg.MetadataValue.md(figures_markdown(figures)),
        }
    )


def _ratio(value: float | None) -> float | str:
    return "n/a" if value is None else round(value, 3)
