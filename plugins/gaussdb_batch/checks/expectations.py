"""Expectation suites (GX Core 1.x) validated on the rows a run loaded.

A batch declares its suite in the spec, inline or as a JSON file::

    checks:
      expectations:
        - {type: expect_column_values_to_not_be_null, kwargs: {column: o_custkey}}
        - {type: expect_column_values_to_be_between, kwargs: {column: o_totalprice, min_value: 0}}

    checks:
      expectations: expectations/tpch_orders.json   # relative to the include folder

A file holds either such a list or a GX ExpectationSuite as saved by GX
(``{"name": ..., "expectations": [{"type": ..., "kwargs": {...}}, ...]}``). Relative
paths are resolved against the include folder (``GAUSSDB_BATCH_INCLUDE``, default
``<repo>/include``); a leading ``include/`` is accepted too. Each expectation may set
``severity`` (``critical``, the default, or ``warning``/``info``: reported, never failing)
and ``meta``.

The suite runs in an ephemeral GX context against a SQL datasource on the target
database; the batch is a query asset selecting the target rows the run loaded
(``Dialect.run_rows_query``), so GX computes its metrics in the database and memory does
not grow with the run. GX's SQLAlchemy engine gets every connection from the target hook
(gaussdb_batch.hooks.sqla): the hook's driver answers the server's login (sha256 through
``async_gaussdb``, which libpq cannot) and its session settings apply to GX's queries.
A login the server refuses (28P01, 28000, an exchange no driver answers) is a permanent
error; an unreachable server a transient one. Every
validation is stored in the control schema's ``quality_results`` (a JSON summary:
counts and, per expectation, the aggregates GX observed; never unexpected row values)
and logged. Bad shapes (unknown expectation type, bad kwargs, unknown column) raise a
permanent error naming the field before any query runs.

GX takes seconds to import: it is imported only when a suite is validated.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.errors import PermanentBatchError, TransientBatchError
from gaussdb_batch.engine.suite_spec import COLUMN_KWARGS, COLUMN_LIST_KWARGS, SuiteSpec, parse_suite

#: Result fields kept from GX: aggregates only (unexpected values and row samples are dropped).
_OBSERVED_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent",
                  "missing_count", "missing_percent")
#: Long observed values (e.g. a list of distinct values) are cut to this many items.
MAX_OBSERVED_ITEMS = 20
#: Index of an expectation in its suite, carried in its meta to map results back.
_INDEX_META = "gaussdb_batch_index"


@dataclass(frozen=True)
class Outcome:
    """The validation of one run: failed expectations by readable name, and a JSON-able summary."""

    success: bool
    failed: list[str]
    summary: dict[str, Any]


def _check_columns(ctx: BatchContext, suite: SuiteSpec) -> None:
    names = {c.name for c in ctx.columns}
    for exp in suite.expectations:
        for key in (*COLUMN_KWARGS, *COLUMN_LIST_KWARGS):
            value = exp.kwargs.get(key)
            cols = value if isinstance(value, list) else [value] if value is not None else []
            for col in cols:
                if col not in names:
                    raise PermanentBatchError(
                        ctx.spec.name, f"{exp.where}.kwargs.{key}: {col!r} is not a column of {ctx.target} "
                                       f"(has {sorted(names)})"
                    )


# ---------------------------------------------------------------------------- GX
def _import_gx() -> Any:
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    logging.getLogger("great_expectations").setLevel(logging.WARNING)  # its import logs hundreds of INFO lines
    import great_expectations as gx

    return gx


def _pydantic_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    seen: dict[str, str] = {}
    for err in errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "kwargs"
        seen.setdefault(loc, err.get("msg", "invalid"))
    return "; ".join(f"{loc}: {msg}" for loc, msg in seen.items())


def _build_expectations(batch: str, suite: SuiteSpec) -> list[Any]:
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.metadata_types import FailureSeverity
    from great_expectations.expectations.registry import (
        get_expectation_impl,
        list_registered_expectation_implementations,
    )

    built = []
    for i, exp in enumerate(suite.expectations):
        try:
            cls = get_expectation_impl(exp.type)
        except ExpectationNotFoundError:
            known = list_registered_expectation_implementations()
            close = difflib.get_close_matches(exp.type, known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise PermanentBatchError(batch, f"{exp.where}.type: unknown expectation type {exp.type!r}{hint}") from None
        try:
            built.append(cls(**exp.kwargs, severity=FailureSeverity(exp.severity), meta={**exp.meta, _INDEX_META: i}))
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise PermanentBatchError(batch, f"{exp.where} ({exp.type}): invalid kwargs: {_pydantic_message(exc)}") from None
    return built


def _open_target(ctx: BatchContext, suite: SuiteSpec, run_id: int) -> Any:
    """A session of the target hook for GX; a refused login is permanent, anything else transient."""
    from gaussdb_batch.hooks.errors import TransientDBError
    from gaussdb_batch.hooks.retry import to_db_error

    hook = ctx.target_hook
    purpose = f"expectation suite {suite.name!r}: connect to the target"
    try:
        return hook.get_conn()
    except Exception as exc:
        err = to_db_error(exc, purpose=purpose, transient=hook.retry_policy.transient_sqlstates)
        text = str(err if err is not None else exc).strip().splitlines()[0][:400]
        if err is not None and err.sqlstate is None:  # a client-side refusal (libpq: "SASL ..."): say which
            said = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            text += f" The driver said: {said[-1][:300]}" if said else ""
        if isinstance(err, TransientDBError):
            raise TransientBatchError(ctx.spec.name, text, run_id=run_id) from None
        # 28P01 / 28000, an exchange no driver answers, a refused challenge: retrying locks accounts.
        raise PermanentBatchError(ctx.spec.name, text if err is not None else f"{purpose} failed: {text}",
                                  run_id=run_id) from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        items = [_jsonable(v) for v in value[:MAX_OBSERVED_ITEMS]]
        if len(value) > MAX_OBSERVED_ITEMS:
            items.append(f"... {len(value) - MAX_OBSERVED_ITEMS} more")
        return items
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _exception_message(info: Any) -> str | None:
    """GX's exception info, flat or keyed by metric: the first line of the first message."""
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        if not info.get("raised_exception"):
            return None
        infos = [info]
    else:
        infos = [v for v in info.values() if isinstance(v, Mapping)]
    for item in infos:
        text = item.get("exception_message") or ""
        if not text and item.get("exception_traceback"):
            lines = [ln for ln in str(item["exception_traceback"]).splitlines() if ln.strip()]
            text = lines[-1] if lines else ""
        text = str(text).strip().splitlines()[0] if str(text).strip() else ""
        if text:
            return text[:300]
    return "the expectation raised an error"


def _summarize(suite: SuiteSpec, results: list[Mapping[str, Any]], run_id: int) -> Outcome:
    by_index: dict[int, Mapping[str, Any]] = {}
    for res in results:
        meta = (res.get("expectation_config") or {}).get("meta") or {}
        if _INDEX_META in meta:
            by_index[int(meta[_INDEX_META])] = res
    entries: list[dict[str, Any]] = []
    failed: list[str] = []
    warnings: list[str] = []
    for i, exp in enumerate(suite.expectations):
        found = by_index.get(i)
        error: str | None
        if found is None:  # GX returned no result for it: count it as failed, never as passed
            ok, observed, error = False, {}, "no result returned by the validation"
        else:
            ok = bool(found.get("success"))
            raw = found.get("result") or {}
            observed = {k: _jsonable(raw[k]) for k in _OBSERVED_KEYS if k in raw}
            error = _exception_message(found.get("exception_info"))
            if error:
                ok = False
        entry: dict[str, Any] = {"expectation": exp.label, "type": exp.type, "kwargs": _jsonable(exp.kwargs),
                                 "severity": exp.severity, "success": ok, "observed": observed}
        if error:
            entry["error"] = error
        entries.append(entry)
        if not ok:
            (failed if exp.severity == "critical" else warnings).append(exp.label)
    evaluated = len(entries)
    summary = {
        "suite": suite.name,
        "source": suite.source,
        "run_id": run_id,
        "success": not failed,
        "evaluated": evaluated,
        "successful": sum(1 for e in entries if e["success"]),
        "failed": failed,
        "warnings": warnings,
        "expectations": entries,
    }
    return Outcome(success=not failed, failed=failed, summary=summary)


def _run_gx(ctx: BatchContext, gx: Any, suite: SuiteSpec, run_id: int) -> list[Mapping[str, Any]]:
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    expectations = _build_expectations(ctx.spec.name, suite)  # needs a current context
    query = ctx.dialect.run_rows_query(ctx.schema, ctx.target, ctx.landing(run_id), ctx.key_columns, run_id)
    from gaussdb_batch.hooks.sqla import hook_engine_url

    first = [_open_target(ctx, suite, run_id)]  # GX's first connection: login errors are classified here

    def creator() -> Any:
        return first.pop() if first else ctx.target_hook.get_conn()

    with warnings.catch_warnings():  # GX suggests its postgres datasource, which takes libpq URLs only
        warnings.simplefilter("ignore")
        try:
            datasource = context.data_sources.add_sql(
                name="target", connection_string=hook_engine_url(ctx.target_hook), kwargs={"creator": creator}
            )
        except Exception as exc:  # GX's TestConnectionError; the URL holds no credentials
            for conn in first:
                conn.close()
            raise TransientBatchError(
                ctx.spec.name, f"expectation suite {suite.name!r}: cannot connect to the target: "
                               f"{str(exc).strip().splitlines()[0][:300]}", run_id=run_id
            ) from None
    try:
        asset = datasource.add_query_asset(name=f"run_{int(run_id)}", query=query)
        batch = asset.add_batch_definition_whole_table("loaded_rows").get_batch()
        gx_suite = gx.ExpectationSuite(name=suite.name, expectations=expectations)
        result = batch.validate(gx_suite)
        return list(result.to_json_dict().get("results") or [])
    finally:
        try:
            datasource.get_execution_engine().engine.dispose()
        except Exception:  # noqa: BLE001 - cleanup only; GX also closes pools when collected
            pass


def _store(ctx: BatchContext, run_id: int, outcome: Outcome) -> None:
    s = outcome.summary
    params = {
        "run_id": run_id,
        "suite": s["suite"],
        "success": outcome.success,
        "evaluated": s["evaluated"],
        "failed": len(outcome.failed),
        "result": json.dumps(s, sort_keys=True, default=str),
    }
    ctx.run(ctx.dialect.insert_quality_result_sql(ctx.schema), params,
            purpose=f"store the expectation results of run {run_id}")


def _log(ctx: BatchContext, run_id: int, outcome: Outcome) -> None:
    s = outcome.summary
    state = "passed" if outcome.success else "FAILED"
    log.info("batch=%s run=%s: expectation suite %r %s: %s of %s expectations met",
             ctx.spec.name, run_id, s["suite"], state, s["successful"], s["evaluated"])
    for e in s["expectations"]:
        mark = "ok" if e["success"] else ("FAILED" if e["severity"] == "critical" else e["severity"].upper())
        detail = ", ".join(f"{k}={v}" for k, v in e["observed"].items())
        if e.get("error"):
            detail = f"{detail}, error: {e['error']}" if detail else f"error: {e['error']}"
        log.info("  [%s] %s %s", mark, e["expectation"], detail)


def validate_run(ctx: BatchContext, run_id: int, expectations: SuiteSpec | Any) -> Outcome:
    """Validate the batch's expectation suite on the rows run ``run_id`` loaded; store and log the result.

    ``expectations`` is the spec's ``checks.expectations``, the suite parsed with the spec (or,
    for a caller holding only the raw value, a list of ``{type, kwargs}`` mappings or the path
    of a JSON file, parsed here). Raises PermanentBatchError for a bad suite; returns the
    Outcome otherwise (the caller decides to fail the check).
    """
    run_id = int(run_id)
    suite = expectations if isinstance(expectations, SuiteSpec) else parse_suite(ctx.spec.name, expectations)
    _check_columns(ctx, suite)
    gx = _import_gx()
    results = _run_gx(ctx, gx, suite, run_id)
    outcome = _summarize(suite, results, run_id)
    _store(ctx, run_id, outcome)
    _log(ctx, run_id, outcome)
    return outcome
