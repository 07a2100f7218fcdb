"""Statements a PostgreSQL zone runs at COMMIT, to make a commit slow, refused or lost on
purpose: a deferrable, initially deferred constraint trigger, as a real schema may hold."""

from __future__ import annotations

from sqlalchemy import Engine

# Ways a commit ends, as PL/pgSQL statements.
SLOW = "PERFORM pg_sleep({seconds})"
REFUSED = "RAISE EXCEPTION 'refused at commit'"
# The server's own connection is terminated, as a failover or a restart does.
LOST = "PERFORM pg_terminate_backend(pg_backend_pid())"


def at_commit(zone: Engine, table: str, statement: str) -> None:
    """Run ``statement`` in the COMMIT of every transaction that inserts into ``table``."""
    with zone.begin() as connection:
        connection.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION at_commit_{table}() RETURNS trigger"
            f" LANGUAGE plpgsql AS $$ BEGIN {statement}; RETURN NULL; END $$"
        )
        connection.exec_driver_sql(
            f"CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON {table} DEFERRABLE"
            f" INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION at_commit_{table}()"
        )


def nothing_at_commit(zone: Engine, table: str) -> None:
    with zone.begin() as connection:
        connection.exec_driver_sql(f"DROP TRIGGER at_commit ON {table}")
