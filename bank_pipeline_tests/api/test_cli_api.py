"""`bank-pipeline token` and `bank-pipeline api`: tokens the API accepts, clear refusals, and a real server."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
import typer
from typer.testing import CliRunner

from bank_pipeline.api.tokens import KEY_FILE, verify_token
from bank_pipeline.cli.api import register
from bank_pipeline.db.databases import create_database, drop_database
from bank_pipeline.db.migrations import discover, migrate
from bank_pipeline.settings import get_settings
from bank_pipeline_tests.api.conftest import SIGNING_KEY

runner = CliRunner()


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def configured(monkeypatch):
    """Set BANK_PIPELINE_* variables for one test (settings are cached: cleared before and after)."""

    def configure(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(f"BANK_PIPELINE_{name.upper()}", value)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()


@pytest.fixture
def signing_key(configured) -> str:
    configured(api_signing_key=SIGNING_KEY)
    return SIGNING_KEY


def mint(*arguments: str) -> str:
    result = runner.invoke(cli(), ["token", *arguments])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_customer_token_is_the_only_output_and_verifies(signing_key):
    output = mint("--role", "customer", "--customer", "cust-alice")
    assert output.count("\n") == 1  # TOKEN=$(bank-pipeline token ...) gets exactly the token
    who = verify_token(output.strip())
    assert (who.role, who.customer_id, who.subject) == ("customer", "cust-alice", "cust-alice")


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_staff_tokens_name_their_subject(signing_key, role):
    who = verify_token(mint("--role", role, "--subject", "jane").strip())
    assert (who.role, who.subject, who.customer_id) == (role, "jane", None)
    assert verify_token(mint("--role", role).strip()).subject  # defaults to the login name


def test_the_time_to_live_is_the_one_asked_for(signing_key):
    claims = jwt.decode(mint("--role", "operator", "--ttl", "90").strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 90


def test_without_a_configured_key_one_is_made_under_home_for_us_only(configured, monkeypatch, tmp_path):
    monkeypatch.delenv("BANK_PIPELINE_API_SIGNING_KEY", raising=False)
    configured(home=str(tmp_path))
    token = mint("--role", "auditor").strip()
    key_file = tmp_path / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert verify_token(token).role == "auditor"
    assert verify_token(mint("--role", "auditor").strip()).role == "auditor"  # the same key the next time


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--role", "customer"], "needs --customer"),
        (["--role", "operator", "--customer", "cust-alice"], "only for --role customer"),
    ],
)
def test_a_token_for_no_one_in_particular_is_refused(signing_key, arguments, message):
    result = runner.invoke(cli(), ["token", *arguments])
    assert result.exit_code == 1
    assert message in result.output and not result.stdout


def test_an_unknown_role_is_a_usage_error(signing_key):
    result = runner.invoke(cli(), ["token", "--role", "admin"])
    assert result.exit_code == 2
    assert "customer" in result.output and "operator" in result.output


def test_a_too_short_signing_key_is_refused(configured):
    configured(api_signing_key="short")
    result = runner.invoke(cli(), ["token", "--role", "operator"])
    assert result.exit_code == 1
    assert "at least 32 bytes" in result.output


def test_api_refuses_to_start_when_the_database_is_unreachable(configured):
    configured(database_url="postgresql://nobody@127.0.0.1:1/nowhere")
    result = runner.invoke(cli(), ["api", "--port", "1"])
    assert result.exit_code == 1
    assert "cannot connect to PostgreSQL" in result.output and "Traceback" not in result.output


@pytest.fixture
def scratch_database(server_url):
    name = f"bp_test_api_cli_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    yield url
    drop_database(server_url, name)


def test_api_refuses_to_start_on_an_empty_database(configured, scratch_database):
    configured(database_url=scratch_database)
    result = runner.invoke(cli(), ["api"])
    assert result.exit_code == 1
    assert "bank-pipeline db migrate" in result.output


def test_api_refuses_to_start_on_a_partly_migrated_database(configured, scratch_database, tmp_path):
    first_files = tmp_path / "sql"
    first_files.mkdir()
    for migration in discover()[:-1]:
        (first_files / migration.name).write_bytes(migration.path.read_bytes())
    with psycopg.connect(scratch_database, autocommit=True) as conn:
        migrate(conn, first_files)
    configured(database_url=scratch_database)
    result = runner.invoke(cli(), ["api"])
    assert result.exit_code == 1
    assert "lacks 1 migration(s)" in result.output and discover()[-1].name in result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SERVE = "import typer; from bank_pipeline.cli.api import register; app = typer.Typer(); register(app); app()"


def test_api_serves_the_app_until_it_is_stopped(database_url, signing_key, tmp_path):
    port = free_port()
    environment = {
        **os.environ, "BANK_PIPELINE_DATABASE_URL": database_url, "BANK_PIPELINE_API_SIGNING_KEY": SIGNING_KEY,
        "BANK_PIPELINE_HOME": str(tmp_path),
    }  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, "api", "--port", str(port)],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 12
        while True:
            try:
                liveness = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "the API did not answer within 12 s"
                time.sleep(0.1)
        assert liveness.status_code == 200 and liveness.json() == {"status": "ok"}
        assert "X-Request-Id" in liveness.headers
        assert httpx.get(f"{base}/readyz", timeout=5).status_code in (200, 503)  # the session database may lag
        operator = mint("--role", "operator").strip()
        scrape = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {operator}"}, timeout=5)
        assert scrape.status_code == 200 and 'route="/healthz"' in scrape.text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    log = server.stdout.read().decode()
    assert server.returncode in (0, -signal.SIGTERM), log  # uvicorn re-raises the signal once it has shut down
    assert "Application shutdown complete" in log
