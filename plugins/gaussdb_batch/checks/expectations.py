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
(``Dialect.run_rows_query``), so GX computes its metrics in the database. Every
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaussdb_batch.engine.context import BatchContext, log
from gaussdb_batch.engine.errors import PermanentBatchError, TransientBatchError

FIELD = "checks.expectations"
#: Keys an expectation may carry (GX 1.x suite files add id/notes/rendered_content; 0.x used expectation_type).
_ITEM_KEYS = {"type", "expectation_type", "kwargs", "meta", "severity", "id", "notes", "description",
              "rendered_content", "ge_cloud_id"}
_SUITE_KEYS = {"name", "expectation_suite_name", "expectations", "meta", "id", "notes", "ge_cloud_id",
               "data_asset_type"}
_SEVERITIES = ("critical", "warning", "info")
#: Result fields kept from GX: aggregates only (unexpected values and row samples are dropped).
_OBSERVED_KEYS = ("observed_value", "element_count", "unexpected_count", "unexpected_percent",
                  "missing_count", "missing_percent")
#: Kwargs naming target columns, checked against the target before any query.
_COLUMN_KWARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_KWARGS = ("column_list", "column_set")
#: Long observed values (e.g. a list of distinct values) are cut to this many items.
MAX_OBSERVED_ITEMS = 20
#: Index of an expectation in its suite, carried in its meta to map results back.
_INDEX_META = "gaussdb_batch_index"


@dataclass(frozen=True)
class ExpectationSpec:
    """One declared expectation, shape-checked; ``where`` names it in error messages."""

    type: str
    kwargs: dict[str, Any]
    severity: str = "critical"
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = FIELD

    @property
    def label(self) -> str:
        """A readable name: the type and its columns, e.g. ``expect_column_values_to_be_between(o_totalprice)``."""
        cols: list[str] = [str(self.kwargs[k]) for k in _COLUMN_KWARGS if isinstance(self.kwargs.get(k), str)]
        for k in _COLUMN_LIST_KWARGS:
            if isinstance(self.kwargs.get(k), list):
                cols.extend(str(c) for c in self.kwargs[k])
        return f"{self.type}({', '.join(cols)})" if cols else self.type


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    expectations: list[ExpectationSpec]
    source: str  # "inline" or the resolved file path


@dataclass(frozen=True)
class Outcome:
    """The validation of one run: failed expectations by readable name, and a JSON-able summary."""

    success: bool
    failed: list[str]
    summary: dict[str, Any]


# ---------------------------------------------------------------------------- shapes
def include_dir() -> Path:
    """The include folder: ``GAUSSDB_BATCH_INCLUDE``, else ``include/`` of this checkout."""
    env = os.environ.get("GAUSSDB_BATCH_INCLUDE")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "include"


def _resolve_path(batch: str, value: str) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        base = include_dir()
        candidates = [base / path]
        if path.parts and path.parts[0] == "include":
            candidates.append(base.joinpath(*path.parts[1:]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise PermanentBatchError(
        batch, f"{FIELD}: suite file {value!r} not found (looked for {', '.join(str(c) for c in candidates)})"
    )


def _load_file(batch: str, value: str) -> tuple[Path, Any]:
    path = _resolve_path(batch, value)
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PermanentBatchError(batch, f"{FIELD}: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PermanentBatchError(batch, f"{FIELD}: {path} is not valid JSON: {exc}") from None


def _item(batch: str, raw: Any, where: str) -> ExpectationSpec:
    if not isinstance(raw, Mapping):
        raise PermanentBatchError(batch, f"{where} must be a mapping with 'type' and 'kwargs', got {raw!r}")
    unknown = sorted(set(raw) - _ITEM_KEYS)
    if unknown:
        raise PermanentBatchError(batch, f"{where}: unknown keys {unknown} (expected type, kwargs, meta, severity)")
    type_ = raw.get("type", raw.get("expectation_type"))
    if not isinstance(type_, str) or not type_.strip():
        raise PermanentBatchError(batch, f"{where}.type is required: the expectation's name, "
                                         "e.g. 'expect_column_values_to_not_be_null'")
    kwargs = raw.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise PermanentBatchError(batch, f"{where}.kwargs must be a mapping of argument names to values")
    meta = raw.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise PermanentBatchError(batch, f"{where}.meta must be a mapping")
    severity = raw.get("severity", "critical")
    if severity not in _SEVERITIES:
        raise PermanentBatchError(batch, f"{where}.severity must be one of {list(_SEVERITIES)}, got {severity!r}")
    return ExpectationSpec(type=type_.strip(), kwargs=dict(kwargs), severity=severity, meta=dict(meta), where=where)


def parse_suite(batch: str, value: Any) -> SuiteSpec:
    """Shape-check the spec's ``checks.expectations`` (inline list or JSON file path); no GX, no database."""
    if isinstance(value, str):
        path, data = _load_file(batch, value)
        where, source = f"{FIELD} ({path.name})", str(path)
        name = path.stem
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - _SUITE_KEYS)
            if unknown:
                raise PermanentBatchError(batch, f"{where}: unknown suite keys {unknown} "
                                                 "(an ExpectationSuite has name, expectations, meta)")
            name = data.get("name") or data.get("expectation_suite_name") or name
            if not isinstance(name, str):
                raise PermanentBatchError(batch, f"{where}: the suite name must be a string")
            items = data.get("expectations")
            if not isinstance(items, list):
                raise PermanentBatchError(batch, f"{where}: 'expectations' must be a list")
        elif isinstance(data, list):
            items = data
        else:
            raise PermanentBatchError(batch, f"{where}: expected a list of expectations or an ExpectationSuite object")
    elif isinstance(value, list):
        items, where, source, name = value, FIELD, "inline", f"{batch}.inline"
    else:
        raise PermanentBatchError(
            batch, f"{FIELD} must be a list of {{type, kwargs}} mappings or the path of a JSON suite file, "
                   f"got {type(value).__name__}"
        )
    if not items:
        raise PermanentBatchError(batch, f"{where} declares no expectations")
    specs = [_item(batch, raw, f"{where}[{i}]") for i, raw in enumerate(items)]
    return SuiteSpec(name=name[:200], expectations=specs, source=source)


def _check_columns(ctx: BatchContext, suite: SuiteSpec) -> None:
    names = {c.name for c in ctx.columns}
    for exp in suite.expectations:
        for key in (*_COLUMN_KWARGS, *_COLUMN_LIST_KWARGS):
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
            built.append(cls(**exp.kwargs, severity=exp.severity, meta={**exp.meta, _INDEX_META: i}))
        except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            raise PermanentBatchError(batch, f"{exp.where} ({exp.type}): invalid kwargs: {_pydantic_message(exc)}") from None
    return built


def _sqlalchemy_target(ctx: BatchContext) -> tuple[str, dict[str, Any]]:
    """(URL, connect_args) of the target for SQLAlchemy; the URL holds the password: never log it."""
    from sqlalchemy.engine import URL

    params = dict(ctx.target_hook.connect_params())  # the hook's session settings travel in connect_args
    url = URL.create(
        "postgresql+psycopg2",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=params.pop("port", None),
        database=params.pop("dbname", None),
    )
    return url.render_as_string(hide_password=False), params


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
    entries, failed, warnings = [], [], []
    for i, exp in enumerate(suite.expectations):
        res = by_index.get(i)
        if res is None:  # GX returned no result for it: count it as failed, never as passed
            ok, observed, error = False, {}, "no result returned by the validation"
        else:
            ok = bool(res.get("success"))
            raw = res.get("result") or {}
            observed = {k: _jsonable(raw[k]) for k in _OBSERVED_KEYS if k in raw}
            error = _exception_message(res.get("exception_info"))
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
    url, connect_args = _sqlalchemy_target(ctx)
    try:
        datasource = context.data_sources.add_postgres(
            name="target", connection_string=url, kwargs={"connect_args": connect_args}
        )
    except Exception as exc:  # GX's TestConnectionError: the message names host and user, never the password
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


def validate_run(ctx: BatchContext, run_id: int, expectations: Any) -> Outcome:
    """Validate the batch's expectation suite on the rows run ``run_id`` loaded; store and log the result.

    ``expectations`` is the spec's ``checks.expectations``: a list of ``{type, kwargs}``
    mappings or the path of a JSON file. Raises PermanentBatchError for a bad suite;
    returns the Outcome otherwise (the caller decides to fail the check).
    """
    run_id = int(run_id)
    suite = parse_suite(ctx.spec.name, expectations)
    _check_columns(ctx, suite)
    gx = _import_gx()
    results = _run_gx(ctx, gx, suite, run_id)
    outcome = _summarize(suite, results, run_id)
    _store(ctx, run_id, outcome)
    _log(ctx, run_id, outcome)
    return outcome
