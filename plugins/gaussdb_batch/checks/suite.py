"""Data-quality checks of a loaded interval: quick built-ins from the spec, then an expectation suite.

Spec shape (all optional)::

    checks:
      not_null: [o_custkey, o_orderdate]
      unique: [[o_orderkey]]            # column groups unique among the run's rows
      ranges: {o_totalprice: {min: 0, max: 1000000}}
      expectations: include/expectations/orders.json   # or an inline list, see checks/expectations.py

Built-ins run as counting SQL on the target rows this run loaded; failures raise a
permanent error whose message lists every failed check, which sends the run through
compensation.
"""

from __future__ import annotations

from typing import Any

from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.identifiers import IdentifierError, validate_identifier
from gaussdb_batch.hooks.dbapi import Connection

_KNOWN = {"not_null", "unique", "ranges", "expectations"}


def _columns(ctx: BatchContext, value: Any, field: str) -> list[str]:
    if not isinstance(value, list):
        raise PermanentBatchError(ctx.spec.name, f"checks.{field} must be a list of column names")
    names = {c.name for c in ctx.columns}
    out = []
    for c in value:
        try:
            validate_identifier(c, what=f"checks.{field} column")
        except IdentifierError as exc:
            raise PermanentBatchError(ctx.spec.name, str(exc)) from None
        if c not in names:
            raise PermanentBatchError(ctx.spec.name, f"checks.{field}: {c!r} is not a column of {ctx.target}")
        out.append(c)
    return out


def builtin_checks(ctx: BatchContext, run_id: int) -> dict[str, int]:
    """Run the spec's quick checks; return {check name: violating rows}."""
    spec, d = ctx.spec, ctx.prepare().dialect
    checks = dict(spec.checks or {})
    unknown = set(checks) - _KNOWN
    if unknown:
        raise PermanentBatchError(spec.name, f"checks: unknown keys {sorted(unknown)} (expected {sorted(_KNOWN)})")
    landing, keys = ctx.landing(run_id), ctx.key_columns
    queries: list[tuple[str, str, dict]] = []
    for col in _columns(ctx, checks.get("not_null", []), "not_null"):
        queries.append((f"not_null({col})", d.count_run_rows_sql(ctx.schema, ctx.target, landing, keys,
                                                                 d.not_null_violation(col)), {}))
    for group in checks.get("unique", []) or []:
        cols = _columns(ctx, group if isinstance(group, list) else [group], "unique")
        queries.append((f"unique({', '.join(cols)})",
                        d.duplicate_run_keys_sql(ctx.schema, ctx.target, landing, keys, cols), {}))
    ranges = checks.get("ranges", {}) or {}
    if not isinstance(ranges, dict):
        raise PermanentBatchError(spec.name, "checks.ranges must map column -> {min, max}")
    for col, bounds in ranges.items():
        _columns(ctx, [col], "ranges")
        if not isinstance(bounds, dict) or not set(bounds) <= {"min", "max"} or not bounds:
            raise PermanentBatchError(spec.name, f"checks.ranges.{col} must be a mapping with min and/or max")
        cond = d.range_violation(col, has_min="min" in bounds, has_max="max" in bounds)
        queries.append((f"range({col})", d.count_run_rows_sql(ctx.schema, ctx.target, landing, keys, cond),
                        {k: v for k, v in bounds.items()}))
    if not queries:
        return {}

    def run(conn: Connection) -> dict[str, int]:
        out = {}
        with conn.cursor() as cur:
            for name, sql, params in queries:
                cur.execute(sql, {"run_id": run_id, **params})
                out[name] = int(cur.fetchone()[0])
        return out

    return ctx.tx(run, purpose=f"run the built-in checks of run {run_id}")


def run_batch_checks(ctx: BatchContext, run_id: int) -> dict[str, Any]:
    """Built-in checks then the expectation suite; raise naming every failure."""
    results = builtin_checks(ctx, run_id)
    failed = {name: n for name, n in results.items() if n}
    summary: dict[str, Any] = {"builtin": results}
    expectations = (ctx.spec.checks or {}).get("expectations")
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
