"""Data-quality checks of a loaded interval: quick built-ins from the spec, then an expectation suite.

Spec shape (all optional)::

    checks:
      not_null: [o_custkey, o_orderdate]
      unique: [[o_orderkey]]            # column groups unique among the run's rows
      ranges: {o_totalprice: {min: 0, max: 1000000}}
      expectations: include/expectations/orders.json   # or an inline list, see checks/expectations.py

The spec parser validated their shape and names (engine/spec.py ChecksSpec); the
pre-flight checked the columns exist before extract. Built-ins run as counting SQL on the target rows this run loaded; failures raise a
permanent error whose message lists every failed check, which sends the run through
compensation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.hooks.dbapi import Connection, scalar



def _columns(ctx: BatchContext, columns: Sequence[str], field: str) -> list[str]:
    """The spec validated the names; the target's catalog decides whether they exist."""
    names = {c.name for c in ctx.columns}
    for c in columns:
        if c not in names:
            raise PermanentBatchError(ctx.spec.name, f"checks.{field}: {c!r} is not a column of {ctx.target}")
    return list(columns)


def builtin_checks(ctx: BatchContext, run_id: int) -> dict[str, int]:
    """Run the spec's quick checks; return {check name: violating rows}."""
    spec, d = ctx.spec, ctx.prepare().dialect
    checks = spec.checks
    landing, keys = ctx.landing(run_id), ctx.key_columns
    queries: list[tuple[str, str, dict]] = []
    for col in _columns(ctx, checks.not_null, "not_null"):
        queries.append((f"not_null({col})", d.count_run_rows_sql(ctx.schema, ctx.target, landing, keys,
                                                                 d.not_null_violation(col)), {}))
    for group in checks.unique:
        cols = _columns(ctx, group, "unique")
        queries.append((f"unique({', '.join(cols)})",
                        d.duplicate_run_keys_sql(ctx.schema, ctx.target, landing, keys, cols), {}))
    for rng in checks.ranges:
        _columns(ctx, [rng.column], "ranges")
        bounds = {k: v for k, v in (("min", rng.min), ("max", rng.max)) if v is not None}
        cond = d.range_violation(rng.column, has_min="min" in bounds, has_max="max" in bounds)
        queries.append((f"range({rng.column})",
                        d.count_run_rows_sql(ctx.schema, ctx.target, landing, keys, cond), bounds))
    if not queries:
        return {}

    def run(conn: Connection) -> dict[str, int]:
        out = {}
        with conn.cursor() as cur:
            for name, sql, params in queries:
                cur.execute(sql, {"run_id": run_id, **params})
                out[name] = int(scalar(cur, f"built-in check {name}"))
        return out

    return ctx.tx(run, purpose=f"run the built-in checks of run {run_id}")


def run_batch_checks(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    """Built-in checks then the expectation suite; raise naming every failure."""
    results = builtin_checks(ctx, run_id)
    failed = {name: n for name, n in results.items() if n}
    summary: dict[str, Any] = {"builtin": results}
    expectations = ctx.spec.checks.expectations
    if expectations:
        from gaussdb_batch.checks.expectations import validate_run

        outcome = validate_run(ctx, run_id, expectations)
        summary["expectations"] = outcome.summary
        if not outcome.success:
            failed.update({f"expectation {name}": 1 for name in outcome.failed})
    if failed:
        detail = ", ".join(f"{name}: {n} rows" if not name.startswith("expectation") else name for name, n in failed.items())
        raise PermanentBatchError(ctx.spec.name, f"data-quality checks failed: {detail}", run_id=run_id)
    log.info("batch=%s run=%s: quality checks passed %s", ctx.spec.name, run_id, summary)
    return summary
