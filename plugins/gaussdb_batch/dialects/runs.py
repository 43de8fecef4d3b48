"""SQL of the runs table, as Dialect methods: begin, leases, fencing locks, takeover and retention.

A run is one attempt at one interval of a batch (Spring Batch's job execution). Its row is
locked by every write of the attempt (``lock_run_sql``), so a takeover waits for writes in flight.
Identifiers are validated and quoted; values are always bound.
"""

from __future__ import annotations

from collections.abc import Sequence

from gaussdb_batch.dialects.core import UNDO_RUN, Column, DialectCore
from gaussdb_batch.identifiers import TableRef
from gaussdb_batch.identifiers import quote_ident as _q


class RunsSQL(DialectCore):
    """Mixin of ``Dialect``: the runs table, its leases and locks."""

    def advisory_xact_lock_sql(self) -> str:
        """A transaction-scoped lock on ``key``: the control schema's (migrations, batch state) or one
        (batch, interval)'s, so begins of one interval serialize."""
        return "SELECT pg_advisory_xact_lock(%(key)s)"

    def latest_run_sql(self, schema: str) -> str:
        """The newest attempt at an interval and its owner; params: batch, start, end."""
        return (
            f"SELECT run_id, attempt, status, owner_dag_id, dag_run_id FROM {_q(schema)}.runs "
            "WHERE batch = %(batch)s AND interval_start = %(start)s AND interval_end = %(end)s "
            "ORDER BY attempt DESC LIMIT 1"
        )

    def insert_run_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {_q(schema)}.runs (batch, interval_start, interval_end, attempt, status,"
            " owner_dag_id, dag_run_id, target_table, mode, lease_seconds, lease_until, repair_of) VALUES (%(batch)s,"
            " %(start)s, %(end)s, %(attempt)s, %(status)s, %(owner_dag_id)s, %(dag_run_id)s, %(target)s,"
            f" %(mode)s, %(lease_seconds)s, {self._lease_end()}, %(repair_of)s) RETURNING run_id"
        )

    def _lease_end(self) -> str:
        return "clock_timestamp() + CAST(%(lease_seconds)s AS integer) * interval '1 second'"

    def lock_run_sql(self, schema: str, *, exclusive: bool) -> str:
        """The run's status and owner, row-locked: shared by concurrent lanes, exclusive for a takeover.

        Every write of an attempt runs this first in its own transaction (fencing): a takeover's
        exclusive lock waits for the writes in flight, and writes after it see the new owner.
        """
        return (
            f"SELECT status, owner_dag_id, dag_run_id, batch FROM {_q(schema)}.runs WHERE run_id = %(run_id)s"
            f" FOR {'UPDATE' if exclusive else 'SHARE'}"
        )

    def renew_lease_sql(self, schema: str) -> str:
        """Extend the owner's lease while the run is in one of the allowed statuses; params: run_id,
        owner_dag_id, dag_run_id, lease_seconds, allowed (a list). One row when still owned."""
        return (
            f"UPDATE {_q(schema)}.runs SET lease_until = {self._lease_end()}, lease_seconds = %(lease_seconds)s"
            " WHERE run_id = %(run_id)s AND owner_dag_id = %(owner_dag_id)s AND dag_run_id = %(dag_run_id)s"
            " AND status = ANY(%(allowed)s)"
        )

    def lease_facts_sql(self, schema: str) -> str:
        """What decides whether an owner is alive: its lease, its newest chunk commit, the server clock."""
        s = _q(schema)
        return (
            f"SELECT r.lease_until, (SELECT max(c.finished_at) FROM {s}.chunks c WHERE c.run_id = r.run_id),"
            f" r.lease_seconds, clock_timestamp() FROM {s}.runs r WHERE r.run_id = %(run_id)s"
        )

    def take_over_run_sql(self, schema: str) -> str:
        """Hand an attempt to a new owner with a fresh lease; params: run_id, status, owner, lease_seconds."""
        return (
            f"UPDATE {_q(schema)}.runs SET owner_dag_id = %(owner_dag_id)s, dag_run_id = %(dag_run_id)s,"
            f" status = %(status)s, message = NULL, lease_seconds = %(lease_seconds)s,"
            f" lease_until = {self._lease_end()} WHERE run_id = %(run_id)s"
        )

    def runs_of_dag_run_sql(self, schema: str) -> str:
        """Run ids a DAG run owns (began or took over), newest first; params: batch, owner_dag_id, dag_run_id."""
        return (
            f"SELECT run_id, status FROM {_q(schema)}.runs WHERE batch = %(batch)s"
            " AND owner_dag_id = %(owner_dag_id)s AND dag_run_id = %(dag_run_id)s ORDER BY run_id DESC"
        )

    def get_run_sql(self, schema: str) -> str:
        return (
            f"SELECT run_id, batch, interval_start, interval_end, attempt, status, target_table, mode,"
            f" rows_extracted, rows_loaded, rows_rejected, chunks_total, started_at, extracted_at,"
            f" finished_at, message, repair_of FROM {_q(schema)}.runs WHERE run_id = %(run_id)s"
        )

    def update_run_sql(self, schema: str, fields: Sequence[str]) -> str:
        sets = ", ".join(f"{_q(f)} = %({f})s" for f in fields)
        return f"UPDATE {_q(schema)}.runs SET {sets} WHERE run_id = %(run_id)s"

    def later_runs_touching_keys_sql(self, schema: str, undo: TableRef, keys: Sequence[Column],
                                     landing: TableRef | None = None) -> str:
        """Runs after ``run_id`` of the same target whose undo journal shares a key with it.

        The run's keys are its journal's and, with ``landing``, the keys it landed (and so
        inserted or overwrote), rejected rows excluded.
        """
        knames = ", ".join(k.q for k in keys)
        mine = f"SELECT {knames} FROM {undo.sql} WHERE {_q(UNDO_RUN)} = %(run_id)s"
        if landing is not None:
            kvals = ", ".join(f"{self.cast_expr(k)} AS {k.q}" for k in keys)
            mine += f" UNION ALL SELECT {kvals} FROM {landing.sql} s WHERE {self._not_rejected(schema)}"
        match = " AND ".join(f"u2.{k.q} = u1.{k.q}" for k in keys)
        return (
            f"SELECT DISTINCT u2.{_q(UNDO_RUN)} FROM ({mine}) u1 JOIN {undo.sql} u2 ON {match} "
            f"JOIN {_q(schema)}.runs r ON r.run_id = u2.{_q(UNDO_RUN)} "
            f"WHERE u2.{_q(UNDO_RUN)} > %(run_id)s AND r.status <> %(compensated)s"
        )

    def expired_runs_sql(self, schema: str) -> str:
        return (
            f"SELECT run_id, target_table FROM {_q(schema)}.runs WHERE batch = %(batch)s"
            " AND finished_at < %(before)s AND status = ANY(%(finished)s) AND purged_at IS NULL"
        )
