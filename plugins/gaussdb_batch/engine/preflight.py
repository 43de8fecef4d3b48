"""Pre-flight: check a batch's spec against its databases before any data moves.

The same checks run in ``gaussdb-batch validate --connect`` and at the start of every
extract: both connections open, the tables exist, the source has the interval column, the
key, tie-break and target columns, the target has the key, check and interval columns and
an index on the keys. Every problem is collected, so one run names all of them, each with
the spec field it comes from; nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.engine.choices import SourceKind
from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.suite_spec import COLUMN_KWARGS, COLUMN_LIST_KWARGS
from gaussdb_batch.hooks.dbapi import Connection
from gaussdb_batch.hooks.errors import GaussDBError
from gaussdb_batch.identifiers import TableRef


@dataclass(frozen=True)
class Problem:
    """One thing that would make the batch fail: the spec field it concerns and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class PreflightError(PermanentBatchError):
    """The spec does not fit its databases; the message lists every problem found."""

    def __init__(self, batch: str, problems: list[Problem]):
        self.problems = problems
        super().__init__(batch, "pre-flight found " + "; ".join(map(str, problems)))


def _connection_problem(field: str, conn_id: str, exc: BaseException) -> Problem:
    if type(exc).__name__ == "AirflowNotFoundException":
        return Problem(field, f"connection {conn_id!r} is not defined in Airflow (add it in Admin > Connections, "
                              f"airflow_settings.yaml or AIRFLOW_CONN_{conn_id.upper()})")
    return Problem(field, f"cannot use connection {conn_id!r}: {exc}")


def _catalog(hook: Any, table: TableRef, purpose: str) -> tuple[dict[int, str], list[str]]:
    """attnum -> column name, and the indexes as ``indkey`` text, of one table."""
    d = hook.dialect
    params = {"schema": table.schema, "table": table.name}

    def read(conn: Connection) -> tuple[dict[int, str], list[str]]:
        with conn.cursor() as cur:
            cur.execute(d.column_numbers_sql(), params)
            numbers = {int(n): name for n, name in cur.fetchall()}
            cur.execute(d.index_columns_sql(), params)
            indexes = [str(row[0]) for row in cur.fetchall()]
        return numbers, indexes

    return hook.run_in_transaction(read, purpose=purpose)


def _query_columns(hook: Any, sql: str, purpose: str) -> list[str]:
    """The columns a source query returns, from running it for an empty interval."""
    now = dt.datetime.now(dt.timezone.utc)
    probe = hook.dialect.query_columns_sql(sql)

    def read(conn: Connection) -> list[str]:
        with conn.cursor() as cur:
            cur.execute(probe, {"start": now, "end": now})
            return [c[0] for c in cur.description or ()]

    return hook.run_in_transaction(read, purpose=purpose)


def _missing(field: str, wanted: Iterable[str], have: Iterable[str], where: str) -> list[Problem]:
    have = set(have)
    missing = [c for c in dict.fromkeys(wanted) if c not in have]
    if not missing:
        return []
    return [Problem(field, f"{', '.join(map(repr, missing))} {'is not a column' if len(missing) == 1 else 'are not columns'}"
                           f" of {where} (it has {', '.join(sorted(have))})")]


def _has_key_index(numbers: dict[int, str], indexes: list[str], keys: tuple[str, ...]) -> bool:
    """An index whose leading columns are exactly the keys (in any order) serves every chunk's key probe."""
    for indkey in indexes:
        cols = [numbers.get(int(n)) for n in indkey.split()]
        if set(cols[: len(keys)]) == set(keys):
            return True
    return False


def _no_key_index(keys: tuple[str, ...], t: TableRef) -> Problem:
    return Problem("keys", f"target {t} has no index on its key columns {list(keys)}: every chunk would scan "
                           f"the whole table. Create one first, e.g. CREATE UNIQUE INDEX ON {t.sql} ({', '.join(keys)})")


def require_key_index(ctx: BatchContext) -> None:
    """The pre-flight's key-index check alone, which extract runs itself (every chunk probes the target
    by key) unless the whole pre-flight already passed in this process."""
    if ctx.preflight_passed:
        return
    t = ctx.spec.target.table
    numbers, indexes = _catalog(ctx.target_hook, t, f"{ctx.spec.name}: read the indexes of {t}")
    if not _has_key_index(numbers, indexes, ctx.spec.keys):
        raise PermanentBatchError(ctx.spec.name, _no_key_index(ctx.spec.keys, t).message)


def _expectation_columns(ctx: BatchContext) -> list[str]:
    suite = ctx.spec.checks.expectations  # parsed with the spec
    if suite is None:
        return []
    cols: list[str] = []
    for exp in suite.expectations:
        for key in (*COLUMN_KWARGS, *COLUMN_LIST_KWARGS):
            value = exp.kwargs.get(key)
            cols.extend(value if isinstance(value, list) else [value] if isinstance(value, str) else [])
    return cols


def _target_problems(ctx: BatchContext) -> tuple[list[Problem], list[str]]:
    spec, t = ctx.spec, ctx.spec.target.table
    numbers, indexes = _catalog(ctx.target_hook, t, f"{spec.name}: pre-flight: read the catalog of {t}")
    if not numbers:
        return [Problem("target.table", f"table {t} does not exist in connection {spec.target.conn_id!r}: create "
                                        f"the target table first (its columns are what the batch loads)")], []
    cols = list(numbers.values())
    where = f"target {t}"
    problems = _missing("keys", spec.keys, cols, where)
    if not problems and not _has_key_index(numbers, indexes, spec.keys):
        problems.append(_no_key_index(spec.keys, t))
    problems += _missing("checks", spec.checks.columns, cols, where)
    problems += _missing("checks.expectations", _expectation_columns(ctx), cols, where)
    if spec.target.interval_column:
        problems += _missing("target.interval_column", [spec.target.interval_column], cols, where)
    problems += _missing("target.distribute_by", spec.target.distribute_by, cols, where)
    return problems, cols


def _source_problems(ctx: BatchContext, target_cols: list[str]) -> list[Problem]:
    """The source must have the interval, key and tie-break columns, and every target column (extract selects them)."""
    src, spec = ctx.spec.source, ctx.spec
    if src.kind == SourceKind.FILES:
        return []
    hook = ctx.source_hook
    if src.kind == SourceKind.SQL:
        field, where = "source.sql", "the rows of source.sql"
        try:
            cols = _query_columns(hook, src.sql or "", f"{spec.name}: pre-flight: run source.sql for no rows")
        except GaussDBError as exc:
            return [Problem(field, str(exc))]
        problems: list[Problem] = []
    else:
        assert src.table is not None
        field, where = "source.table", f"source {src.table}"
        numbers, _ = _catalog(hook, src.table, f"{spec.name}: pre-flight: read the catalog of {src.table}")
        if not numbers:
            return [Problem(field, f"table {src.table} does not exist in connection {src.conn_id!r}")]
        cols = list(numbers.values())
        problems = _missing("source.interval_column", [src.interval_column or ""], cols, where)
    problems += _missing("keys", spec.keys, cols, where)
    problems += _missing("source.tie_break", src.tie_break, cols, where)
    problems += _missing(field, [c for c in target_cols if c not in spec.keys], cols,
                         f"{where}, which must have every column of the target")
    return problems


def _opened(field: str, conn_id: str | None, open_hook: Callable[[], Any]) -> Problem | None:
    try:
        hook = open_hook()
        hook.run_in_transaction(lambda conn: None, purpose=f"pre-flight: connect with {conn_id!r}")
    except Exception as exc:  # a missing connection, refused login, unreachable host: reported, not raised
        return _connection_problem(field, conn_id or "", exc)
    return None


def check(ctx: BatchContext) -> list[Problem]:
    """Every problem of the batch's spec against its databases (empty when it can run)."""
    spec = ctx.spec
    problems = [p for p in (
        _opened("target.conn_id", spec.target.conn_id, lambda: ctx.target_hook),
        _opened("source.conn_id", spec.source.conn_id, lambda: ctx.source_hook)
        if spec.source.kind != SourceKind.FILES and spec.source.conn_id != spec.target.conn_id else None,
    ) if p is not None]
    if problems:
        return problems
    target_problems, target_cols = _target_problems(ctx)
    return target_problems + _source_problems(ctx, target_cols)


def require(ctx: BatchContext) -> None:
    """Raise PreflightError naming every problem; extract calls this before any data moves."""
    problems = check(ctx)
    if problems:
        raise PreflightError(ctx.spec.name, problems)
    ctx.preflight_passed = True
    log.info("batch=%s: pre-flight passed (connections, tables, columns, key index)", ctx.spec.name)
