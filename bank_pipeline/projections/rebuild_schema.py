"""The shadow schema of a rebuild, shaped after the live one from PostgreSQL's catalog.

Tables are created `LIKE` the live ones without their indexes, so they load fast; the indexes and keys are
then re-created from the live definitions (pg_get_indexdef, with the shadow's table named in place of the
live one). Whatever the live schema holds besides tables and their indexes (a view, a function, a
sequence, a foreign key) a rebuild could not carry over, so it refuses to start rather than swap in a read
model that lacks it.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql


class RebuildUnsupported(RuntimeError):
    """The live schema holds something a rebuild cannot reproduce; nothing was changed."""


@dataclass(frozen=True)
class IndexStatement:
    table: str
    create: str  # CREATE [UNIQUE] INDEX ... ON shadow.table ...
    attach: str | None  # ALTER TABLE ... ADD CONSTRAINT ... USING INDEX, for a primary key or unique constraint


def live_tables(conn: psycopg.Connection, live: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
        (live,),
    ).fetchall()
    return [row[0] for row in rows]


def check_rebuildable(conn: psycopg.Connection, live: str, known_tables: set[str]) -> None:
    """Raise RebuildUnsupported unless the live schema holds exactly the tables a rebuild fills, and
    nothing else but their indexes."""
    if conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (live,)).fetchone() is None:
        raise RebuildUnsupported(f"schema {live} does not exist: migrate the database first")
    others = conn.execute(
        """
        SELECT 'relation ' || c.relname || ' (relkind ' || c.relkind::text || ')' FROM pg_class c
         WHERE c.relnamespace = %(live)s::regnamespace AND c.relkind NOT IN ('r', 'i')
        UNION ALL
        SELECT 'function ' || p.proname FROM pg_proc p WHERE p.pronamespace = %(live)s::regnamespace
        UNION ALL
        SELECT 'type ' || t.typname FROM pg_type t
         WHERE t.typnamespace = %(live)s::regnamespace AND t.typrelid = 0 AND t.typelem = 0
        UNION ALL
        SELECT 'foreign key, exclusion or deferrable constraint ' || conname FROM pg_constraint
         WHERE connamespace = %(live)s::regnamespace AND (contype IN ('f', 'x') OR condeferrable)
        """,
        {"live": live},
    ).fetchall()
    tables = set(live_tables(conn, live))
    problems = [row[0] for row in others]
    if tables - known_tables:
        problems.append(f"tables the rebuild does not fill: {', '.join(sorted(tables - known_tables))}")
    if known_tables - tables:
        problems.append(f"tables the rebuild fills but {live} lacks: {', '.join(sorted(known_tables - tables))}")
    if problems:
        raise RebuildUnsupported(f"cannot rebuild {live}: " + "; ".join(problems))


def table_columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    """The columns a COPY can write (generated columns left out) and their types, in table order."""
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = %s::regclass "
        "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchall()
    return dict(rows)


def drop_schema(conn: psycopg.Connection, schema: str) -> None:
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def create_schema(conn: psycopg.Connection, live: str, shadow: str) -> None:
    """The shadow schema, with the live schema's privileges."""
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(shadow)))
    for grant in _grants(conn, "SCHEMA", live, shadow):
        conn.execute(grant)


def create_table(conn: psycopg.Connection, live: str, shadow: str, table: str, *, unlogged: bool) -> None:
    """shadow.table like live.table: columns, defaults, generation expressions, CHECK and NOT NULL
    constraints, storage, comments, privileges; no index, so it loads fast."""
    conn.execute(
        sql.SQL("CREATE {} TABLE {} (LIKE {} INCLUDING ALL EXCLUDING INDEXES)").format(
            sql.SQL("UNLOGGED" if unlogged else ""), sql.Identifier(shadow, table), sql.Identifier(live, table)
        )
    )
    for grant in _grants(conn, "TABLE", f"{live}.{table}", f"{shadow}.{table}"):
        conn.execute(grant)


def set_logged(conn: psycopg.Connection, shadow: str, table: str) -> None:
    conn.execute(sql.SQL("ALTER TABLE {} SET LOGGED").format(sql.Identifier(shadow, table)))


def _grants(conn: psycopg.Connection, kind: str, live_name: str, shadow_name: str) -> list[sql.Composed]:
    """GRANT statements giving `shadow_name` the privileges other roles hold on `live_name`."""
    if kind == "SCHEMA":
        acl_query = "SELECT nspacl, nspowner FROM pg_namespace WHERE nspname = %s"
        target = sql.SQL("SCHEMA {}").format(sql.Identifier(shadow_name))
    else:
        acl_query = "SELECT relacl, relowner FROM pg_class WHERE oid = %s::regclass"
        target = sql.SQL("TABLE {}").format(sql.Identifier(*shadow_name.split(".")))
    if kind != "SCHEMA":
        live_name = sql.Identifier(*live_name.split(".")).as_string(conn)
    rows = conn.execute(
        f"""
        SELECT a.privilege_type, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END,
               a.is_grantable
          FROM ({acl_query}) AS o(acl, owner), aclexplode(o.acl) AS a
         WHERE a.grantee <> o.owner
        """,
        (live_name,),
    ).fetchall()
    return [
        sql.SQL("GRANT {} ON {} TO {}{}").format(
            sql.SQL(privilege),
            target,
            sql.SQL("PUBLIC") if grantee == "PUBLIC" else sql.Identifier(grantee),
            sql.SQL(" WITH GRANT OPTION" if grantable else ""),
        )
        for privilege, grantee, grantable in rows
    ]


def index_statements(conn: psycopg.Connection, live: str, shadow: str) -> list[IndexStatement]:
    """How to re-create every index of the live tables on the shadow ones, primary keys and unique
    constraints included (built as plain unique indexes, then attached)."""
    rows = conn.execute(
        """
        SELECT t.relname, pg_get_indexdef(i.indexrelid), ic.relname, con.conname, con.contype,
               quote_ident(%(live)s) || '.' || quote_ident(t.relname),
               quote_ident(%(shadow)s) || '.' || quote_ident(t.relname)
          FROM pg_index i
          JOIN pg_class t ON t.oid = i.indrelid
          JOIN pg_class ic ON ic.oid = i.indexrelid
          LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid AND con.contype IN ('p', 'u')
         WHERE t.relnamespace = %(live)s::regnamespace
         ORDER BY t.relname, con.contype NULLS LAST, ic.relname
        """,
        {"live": live, "shadow": shadow},
    ).fetchall()
    statements = []
    for table, definition, index_name, constraint, kind, live_table, shadow_table in rows:
        # pg_get_indexdef names the table with its schema: "CREATE ... INDEX name ON schema.table USING ...".
        if definition.count(f" ON {live_table} ") != 1:
            raise RebuildUnsupported(f"cannot tell which table this index definition is on: {definition}")
        create = definition.replace(f" ON {live_table} ", f" ON {shadow_table} ")
        attach = None
        if constraint is not None:
            attach = (
                sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {} USING INDEX {}")
                .format(
                    sql.Identifier(shadow, table),
                    sql.Identifier(constraint),
                    sql.SQL("PRIMARY KEY" if kind == "p" else "UNIQUE"),
                    sql.Identifier(index_name),
                )
                .as_string(conn)
            )
        statements.append(IndexStatement(table, create, attach))
    return statements
