"""Reading the read model's tables whole, for comparisons in tests."""

import psycopg

TABLES = {
    "customers": "customer_id",
    "customer_accounts": "customer_id, account_id",
    "account_balances": "account_id",
    "account_entries": "account_id, stream_version",
    "daily_balances": "account_id, business_day",
    "account_holds": "account_id, hold_id",
    "account_status_changes": "account_id, stream_version",
    "legal_holds": "customer_id, hold_id",
    "checkpoints": "projection",
}


def table_rows(
    conn: psycopg.Connection, table: str, schema: str = "projections", *, skip: tuple[str, ...] = ()
) -> list[tuple]:
    columns = [
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
            "ORDER BY ordinal_position",
            (schema, table),
        )
        if row[0] not in skip
    ]
    return conn.execute(f"SELECT {', '.join(columns)} FROM {schema}.{table} ORDER BY {TABLES[table]}").fetchall()


def whole_read_model(conn: psycopg.Connection, schema: str = "projections") -> dict[str, list[tuple]]:
    """Every table's rows; the checkpoint's bookkeeping time left out."""
    return {
        table: table_rows(conn, table, schema, skip=("updated_at",) if table == "checkpoints" else ())
        for table in TABLES
    }
