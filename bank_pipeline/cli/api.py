"""`bank-pipeline api` serves the HTTP API; `bank-pipeline token` mints a bearer token for it."""

from __future__ import annotations

import getpass
from enum import Enum

import typer

from bank_pipeline.cli.errors import fail, operator_errors

APP_FACTORY = "bank_pipeline.api.app:create_app"


class RoleOption(str, Enum):
    customer = "customer"
    operator = "operator"
    auditor = "auditor"


@operator_errors
def api(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes, each with its own connection pool."),
) -> None:
    """Serve the HTTP API with uvicorn (OpenAPI document at /docs). Checks first that the database is reachable
    and migrated; probes at /healthz and /readyz, Prometheus metrics at /metrics (operator or auditor token)."""
    import uvicorn

    from bank_pipeline.api.tokens import signing_key

    check_database_is_ready()
    # Made (or checked) here, once, before the workers start: they would otherwise race to create the key file.
    try:
        signing_key()
    except ValueError as error:
        fail(str(error))
    typer.echo(f"serving the API on http://{host}:{port} (docs at /docs); Ctrl-C stops it", err=True)
    uvicorn.run(
        APP_FACTORY, factory=True, host=host, port=port, workers=workers, loop="uvloop", http="httptools",
        access_log=False, timeout_graceful_shutdown=10,
    )  # fmt: skip


def check_database_is_ready() -> None:
    """Fail with what to do when the database is unreachable or not fully migrated."""
    from bank_pipeline.db import connect
    from bank_pipeline.db.migrations import discover
    from bank_pipeline.runtime import Runtime

    url = Runtime.open().url  # unreachable, or no event store yet: an error that says what to do
    with connect(url) as conn:
        applied = {version for (version,) in conn.execute("SELECT version FROM bank_pipeline_meta.schema_migrations")}
    pending = [migration.name for migration in discover() if migration.version not in applied]
    if pending:
        fail(f"the database lacks {len(pending)} migration(s) ({', '.join(pending[:3])}…): run `bank-pipeline db "
             "migrate` first")  # fmt: skip


@operator_errors
def token(
    role: RoleOption = typer.Option(..., "--role", help="Who the token speaks for."),
    customer: str | None = typer.Option(None, "--customer", help="The customer id (required with --role customer)."),
    subject: str | None = typer.Option(
        None, "--subject", help="Who acts, as the audit trail records it (default: the customer id, else your login)."
    ),
    ttl: int | None = typer.Option(
        None, "--ttl", min=1, help="Seconds the token stays valid (default: BANK_PIPELINE_API_TOKEN_TTL_SECONDS)."
    ),
) -> None:
    """Print a signed bearer token for the API, and nothing else: `TOKEN=$(bank-pipeline token --role operator)`.
    Signed with BANK_PIPELINE_API_SIGNING_KEY, or the key kept in BANK_PIPELINE_HOME (made on first use)."""
    from bank_pipeline.api.identity import Identity
    from bank_pipeline.api.tokens import mint_token

    if role is RoleOption.customer and not customer:
        fail("a customer token needs --customer ID")
    if role is not RoleOption.customer and customer:
        fail(f"--customer is only for --role customer; an {role.value} sees every customer")
    who = Identity(subject or customer or _login_name(role.value), role.value, customer)
    try:
        typer.echo(mint_token(who, ttl_seconds=ttl))
    except ValueError as error:  # a configured signing key that is too short
        fail(str(error))


def _login_name(fallback: str) -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return fallback


def register(app: typer.Typer) -> None:
    """Add `api` and `token` to the `bank-pipeline` command."""
    app.command()(api)
    app.command()(token)
