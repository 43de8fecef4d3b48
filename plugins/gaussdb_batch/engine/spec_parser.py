"""Spec parser: YAML in, a validated BatchSpec out, before any SQL runs.

Every error names the file, the line, the batch and the field (``source.table``), says what
was expected and, for a mistyped key, which key was meant; so a bad spec fails at DAG parse
time with a message a data engineer can act on. The defaults are the model's
(engine.spec); the expectation suite is read and shape-checked here, once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gaussdb_batch.engine.alerting_spec import AlertingSpecError, parse_alerting
from gaussdb_batch.engine.choices import LoadMode, LoadPath, Overlap, ReconcileScopeKind, SourceKind
from gaussdb_batch.engine.spec import (
    MAX_CHUNK_ROWS,
    MAX_LANES,
    MAX_LAST_INTERVALS,
    MAX_LEAF_ROWS,
    MAX_LEASE_SECONDS,
    MAX_RECONCILE_PARALLEL,
    MAX_REPAIR_ROWS,
    MAX_RETENTION_DAYS,
    AdaptiveSpec,
    AlertingSpec,
    BatchSpec,
    ChecksSpec,
    ChunkSizing,
    RangeCheck,
    ReconcileSpec,
    SourceSpec,
    SpecError,
    TargetSpec,
)
from gaussdb_batch.engine.suite_spec import parse_suite
from gaussdb_batch.identifiers import IdentifierError, TableRef, validate_identifier

MODES = tuple(LoadMode)
#: Schedule presets that give every run a data interval (``@once`` and ``@continuous`` do not).
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight")
FILE_FORMATS = ("csv", "parquet")

_TOP_KEYS = {
    "name", "description", "schedule", "timezone", "start_date", "catchup", "owner", "tags",
    "source", "target", "keys", "mode", "chunk_rows", "lanes", "pool", "extract_pool",
    "max_rejects", "retries", "retry_delay_seconds", "retry_exponential_backoff",
    "max_retry_delay_seconds", "throttle_rows_per_second", "retention_days", "control_schema",
    "on_overlap", "lease_seconds", "load_path",
    "same_database", "alerting", "checks",
    "chunk_target_seconds", "chunk_rows_min", "chunk_rows_max", "chunk_rows_step",
    "reconcile",
}
_SOURCE_KEYS = {"conn_id", "table", "interval_column", "sql", "files", "format", "order_by_key", "tie_break"}
OVERLAP = tuple(Overlap)
LOAD_PATHS = tuple(LoadPath)
_TARGET_KEYS = {"conn_id", "table", "distribute_by", "interval_column"}
_ADAPTIVE_KEYS = {"type", "t_min", "t_max", "step", "backlog_threshold", "watermark_column"}
_REQUIRED = ("name", "source", "target", "keys", "schedule")



_CHECK_KEYS = {"not_null", "unique", "ranges", "expectations"}
_RECONCILE_KEYS = {"schedule", "scope", "mode", "leaf_rows", "parallel", "max_repair_rows"}
#: The reconcile modes a spec may name.
RECONCILE_MODES = ("report", "repair")


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


#: Every default, read from the dataclasses (the one place defaults are written).
_DEFAULTS, _SOURCE_DEFAULTS = _defaults(BatchSpec), _defaults(SourceSpec)
_RECONCILE_DEFAULTS = _defaults(ReconcileSpec)


def spec_keys() -> dict[str, frozenset[str]]:
    """Every key a spec may have, by section ("" is the top level); docs/spec.md documents each."""
    from gaussdb_batch.engine.alerting_spec import EVENTS

    return {"": frozenset(_TOP_KEYS), "source": frozenset(_SOURCE_KEYS), "target": frozenset(_TARGET_KEYS),
            "schedule": frozenset(_ADAPTIVE_KEYS), "checks": frozenset(_CHECK_KEYS),
            "alerting": frozenset({*EVENTS, "late_after_minutes"}), "reconcile": frozenset(_RECONCILE_KEYS)}


def suggest(word: str, choices: Any) -> str | None:
    """The known key closest to a mistyped one (``chunk_row`` -> ``chunk_rows``), or None."""
    close = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.5)
    return close[0] if close else None


class _Ctx:
    """Error context: the file, the batch's name and the line of every field, for messages."""

    def __init__(self, name: str, *, origin: str | None = None, lines: Mapping[str, int] | None = None):
        self.name = name
        self.origin = origin
        self.lines = lines or {}

    def line_of(self, path: str) -> int | None:
        """The line of a field, else of the nearest enclosing field that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def fail(self, path: str, msg: str, *, hint: str | None = None) -> SpecError:
        line = self.line_of(path)
        where = f"{self.origin}:{line}: " if self.origin and line else (f"{self.origin}: " if self.origin else "")
        return SpecError(f"{where}batch {self.name!r}: {path}: {msg}",
                         origin=self.origin, line=line, field=path, hint=hint)

    def check_keys(self, path: str, data: Mapping, allowed: set[str]) -> None:
        unknown = sorted(set(map(str, data)) - allowed)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            hint = suggest(unknown[0], allowed)
            meant = f", did you mean {hint!r}?" if hint else ""
            raise self.fail(where, f"unknown key{meant} (expected one of: {', '.join(sorted(allowed))})", hint=hint)

    def ident(self, path: str, value: Any) -> str:
        try:
            return validate_identifier(value, what="identifier")
        except IdentifierError as exc:
            raise self.fail(path, str(exc)) from None

    def table(self, path: str, value: Any) -> TableRef:
        try:
            return TableRef.parse(value)
        except IdentifierError as exc:
            raise self.fail(path, str(exc)) from None

    def integer(self, path: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {value!r}")
        if value < minimum:
            raise self.fail(path, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.fail(path, f"must be <= {maximum}, got {value}")
        return value

    def number(self, path: str, value: Any, *, minimum: float, strict: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"must be a number, got {value!r}")
        if value < minimum or (strict and value == minimum):
            raise self.fail(path, f"must be {'>' if strict else '>='} {minimum}, got {value}")
        return float(value)

    def string(self, path: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"must be a non-empty string, got {value!r}")
        return value


def _parse_source(ctx: _Ctx, data: Any) -> SourceSpec:
    if not isinstance(data, Mapping):
        raise ctx.fail("source", "must be a mapping with conn_id and table, sql or files")
    ctx.check_keys("source", data, _SOURCE_KEYS)
    kinds = [k for k in ("table", "sql", "files") if data.get(k)]
    if len(kinds) != 1:
        raise ctx.fail("source", "needs exactly one of table, sql or files")
    conn_id = data.get("conn_id")
    if kinds[0] != "files":
        conn_id = ctx.string("source.conn_id", conn_id)
    fmt = data.get("format", _SOURCE_DEFAULTS["file_format"])
    if fmt not in FILE_FORMATS:
        raise ctx.fail("source.format", f"must be one of {FILE_FORMATS}, got {fmt!r}")
    sql = data.get("sql")
    if sql is not None:
        sql = ctx.string("source.sql", sql)
        if "%(start)s" not in sql or "%(end)s" not in sql:
            raise ctx.fail("source.sql", "must bound the interval with %(start)s and %(end)s placeholders")
    table = ctx.table("source.table", data["table"]) if data.get("table") else None
    tie_break = data.get("tie_break") or []
    if isinstance(tie_break, str):
        tie_break = [tie_break]
    if not isinstance(tie_break, list):
        raise ctx.fail("source.tie_break", "must be a column name or a list of them")
    if tie_break and data.get("files"):
        raise ctx.fail("source.tie_break", "file sources keep the first row of a key in file order; "
                                           "tie_break applies to table and sql sources")
    ic = data.get("interval_column")
    if table is not None and ic is None:
        raise ctx.fail("source.interval_column", "is required for a table source (the column that bounds the data interval)")
    return SourceSpec(
        conn_id=conn_id,
        table=table,
        interval_column=ctx.ident("source.interval_column", ic) if ic is not None else None,
        sql=sql,
        files=ctx.string("source.files", data["files"]) if data.get("files") else None,
        file_format=fmt,
        order_by_key=bool(data.get("order_by_key", _SOURCE_DEFAULTS["order_by_key"])),
        tie_break=tuple(ctx.ident(f"source.tie_break[{i}]", c) for i, c in enumerate(tie_break)),
    )


def _parse_target(ctx: _Ctx, data: Any) -> TargetSpec:
    if not isinstance(data, Mapping):
        raise ctx.fail("target", "must be a mapping with conn_id and table")
    ctx.check_keys("target", data, _TARGET_KEYS)
    for key in ("conn_id", "table"):
        if key not in data:
            raise ctx.fail(f"target.{key}", "is required")
    dist = data.get("distribute_by") or []
    if isinstance(dist, str):
        dist = [dist]
    return TargetSpec(
        conn_id=ctx.string("target.conn_id", data["conn_id"]),
        table=ctx.table("target.table", data["table"]),
        distribute_by=tuple(ctx.ident(f"target.distribute_by[{i}]", c) for i, c in enumerate(dist)),
        interval_column=(ctx.ident("target.interval_column", data["interval_column"])
                         if data.get("interval_column") else None),
    )


def _parse_schedule(ctx: _Ctx, value: Any) -> tuple[str | None, AdaptiveSpec | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        if value.strip() == "adaptive":
            raise ctx.fail("schedule", "adaptive needs a mapping: {type: adaptive, t_min, t_max, step, backlog_threshold}")
        from croniter import croniter

        if value.startswith("@"):
            if value not in CRON_PRESETS:
                raise ctx.fail("schedule", f"{value!r} is not a preset with a data interval (expected one of "
                                           f"{', '.join(CRON_PRESETS)}, a cron expression, or an adaptive mapping)")
        elif not croniter.is_valid(value):
            raise ctx.fail("schedule", f"{value!r} is not a valid cron expression")
        return value, None
    if isinstance(value, Mapping):
        ctx.check_keys("schedule", value, _ADAPTIVE_KEYS)
        if value.get("type") != "adaptive":
            raise ctx.fail("schedule.type", "must be 'adaptive' for a mapping schedule")
        for key in ("t_min", "t_max", "step", "backlog_threshold"):
            if key not in value:
                raise ctx.fail(f"schedule.{key}", "is required for an adaptive schedule")
        a = AdaptiveSpec(
            t_min=ctx.number("schedule.t_min", value["t_min"], minimum=0, strict=True),
            t_max=ctx.number("schedule.t_max", value["t_max"], minimum=0, strict=True),
            step=ctx.number("schedule.step", value["step"], minimum=0, strict=True),
            backlog_threshold=ctx.integer("schedule.backlog_threshold", value["backlog_threshold"], minimum=0),
            watermark_column=(ctx.ident("schedule.watermark_column", value["watermark_column"])
                              if value.get("watermark_column") else None),
        )
        if a.t_min > a.t_max:
            raise ctx.fail("schedule", f"t_min ({a.t_min}) must not exceed t_max ({a.t_max})")
        return None, a
    raise ctx.fail("schedule", f"must be a cron string or an adaptive mapping, got {value!r}")


def _check_adaptive_source(ctx: _Ctx, source: SourceSpec, adaptive: AdaptiveSpec | None) -> None:
    """An adaptive batch counts its backlog in a source table, on the column extract cuts intervals on."""
    if adaptive is None:
        return
    if source.kind != SourceKind.TABLE:
        raise ctx.fail("source.table", "an adaptive schedule counts its backlog in a source table: "
                                       "give source.table and source.interval_column")
    if adaptive.watermark_column and adaptive.watermark_column != source.interval_column:
        raise ctx.fail("schedule.watermark_column", f"must be the source's interval_column "
                                                    f"({source.interval_column!r}): extract cuts each run's interval on it")


def _parse_chunk_sizing(ctx: _Ctx, data: Mapping, adaptive: AdaptiveSpec | None) -> ChunkSizing | None:
    """Adaptive chunk size: AIMD toward chunk_target_seconds within chunk_rows_min..chunk_rows_max."""
    given = [k for k in ("chunk_target_seconds", "chunk_rows_min", "chunk_rows_max", "chunk_rows_step")
             if data.get(k) is not None]
    if not given:
        return None
    if data.get("chunk_target_seconds") is None:
        raise ctx.fail(given[0], "only applies with chunk_target_seconds (adaptive chunk size)")
    if adaptive is None:
        raise ctx.fail("chunk_target_seconds", "adaptive chunk size needs an adaptive schedule "
                                               "(schedule: {type: adaptive, ...})")
    target = ctx.number("chunk_target_seconds", data["chunk_target_seconds"], minimum=0, strict=True)
    for key in ("chunk_rows_min", "chunk_rows_max"):
        if data.get(key) is None:
            raise ctx.fail(key, "is required with chunk_target_seconds")
    lo = ctx.integer("chunk_rows_min", data["chunk_rows_min"], minimum=1)
    hi = ctx.integer("chunk_rows_max", data["chunk_rows_max"], minimum=1)
    if hi < lo:
        raise ctx.fail("chunk_rows_max", f"must be >= chunk_rows_min ({lo}), got {hi}")
    first = ctx.integer("chunk_rows", data.get("chunk_rows", _DEFAULTS["chunk_rows"]), minimum=1)
    if not lo <= first <= hi:
        raise ctx.fail("chunk_rows", f"the first chunk size must lie in chunk_rows_min..chunk_rows_max "
                                     f"({lo}..{hi}), got {first}")
    step = ctx.integer("chunk_rows_step", data.get("chunk_rows_step", lo), minimum=1)
    return ChunkSizing(target_seconds=target, min_rows=lo, max_rows=hi, step=step)


def _parse_date(ctx: _Ctx, value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        d = value
    elif isinstance(value, dt.date):
        d = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            d = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ctx.fail("start_date", f"must be an ISO date, got {value!r}") from None
    else:
        raise ctx.fail("start_date", f"must be an ISO date, got {value!r}")
    return d if d.tzinfo else d.replace(tzinfo=dt.timezone.utc)



def _columns(ctx: _Ctx, path: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ctx.fail(path, f"must be a column name or a list of them, got {value!r}")
    return tuple(ctx.ident(f"{path}[{i}]", c) for i, c in enumerate(value))


def _parse_checks(ctx: _Ctx, data: Any) -> ChecksSpec:
    """Shape and identifiers of every check now; that the columns exist is the pre-flight's job."""
    if data is None:
        return ChecksSpec()
    if not isinstance(data, Mapping):
        raise ctx.fail("checks", "must be a mapping with not_null, unique, ranges and/or expectations")
    ctx.check_keys("checks", data, _CHECK_KEYS)
    not_null = _columns(ctx, "checks.not_null", data.get("not_null") or [])
    unique_raw = data.get("unique") or []
    if not isinstance(unique_raw, list):
        raise ctx.fail("checks.unique", "must be a list of column groups, e.g. [[o_orderkey]]")
    ranges_raw = data.get("ranges") or {}
    if not isinstance(ranges_raw, Mapping):
        raise ctx.fail("checks.ranges", "must map column -> {min, max}")
    ranges = []
    for col, bounds in ranges_raw.items():
        where = f"checks.ranges.{col}"
        column = ctx.ident(where, col)
        if not isinstance(bounds, Mapping) or not bounds:
            raise ctx.fail(where, "must be a mapping with min and/or max")
        ctx.check_keys(where, bounds, {"min", "max"})
        limits = {k: ctx.number(f"{where}.{k}", v, minimum=float("-inf")) for k, v in bounds.items()}
        ranges.append(RangeCheck(column, limits.get("min"), limits.get("max")))
    expectations, suite = data.get("expectations"), None
    if expectations is not None:
        from gaussdb_batch.engine.errors import PermanentBatchError

        if not isinstance(expectations, (str, list)):
            raise ctx.fail("checks.expectations", "must be the path of a suite file or a list of expectations")
        try:
            suite = parse_suite(ctx.name, expectations)
        except PermanentBatchError as exc:
            raise ctx.fail("checks.expectations", exc.message) from None
    return ChecksSpec(
        not_null=not_null,
        unique=tuple(_columns(ctx, f"checks.unique[{i}]", g) for i, g in enumerate(unique_raw)),
        ranges=tuple(ranges),
        expectations=suite,
    )


def _cron(ctx: _Ctx, path: str, value: Any) -> str:
    """A cron expression or a preset with a data interval."""
    from croniter import croniter

    value = ctx.string(path, value)
    if value.startswith("@"):
        if value not in CRON_PRESETS:
            raise ctx.fail(path, f"{value!r} is not a cron preset (expected one of {', '.join(CRON_PRESETS)} "
                                 "or a cron expression)")
    elif not croniter.is_valid(value):
        raise ctx.fail(path, f"{value!r} is not a valid cron expression")
    return value


def _parse_reconcile_scope(ctx: _Ctx, value: Any, schedule: str | None) -> dict[str, Any]:
    """``scope``: ``table``, ``{last_intervals: N}`` or ``{keys: [lo, hi]}``, as ReconcileSpec fields."""
    path = "reconcile.scope"
    shapes = "'table', {last_intervals: N} or {keys: [lo, hi]}"
    if value == ReconcileScopeKind.TABLE.value:
        return {"scope": ReconcileScopeKind.TABLE}
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ctx.fail(path, f"must be one of {shapes}, got {value!r}")
    ctx.check_keys(path, value, {"last_intervals", "keys"})
    if "last_intervals" in value:
        if schedule is None:
            raise ctx.fail(f"{path}.last_intervals", "needs the batch's cron schedule (its data intervals); "
                                                     "use {keys: [lo, hi]} or table")
        n = ctx.integer(f"{path}.last_intervals", value["last_intervals"], minimum=1, maximum=MAX_LAST_INTERVALS)
        return {"scope": ReconcileScopeKind.INTERVALS, "last_intervals": n}
    bounds = value["keys"]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or any(isinstance(b, (bool, Mapping, list)) or b is None for b in bounds)):
        raise ctx.fail(f"{path}.keys", f"must be [lo, hi] (two key values, both included), got {bounds!r}")
    lo, hi = (str(b) for b in bounds)
    if isinstance(bounds[0], (int, float)) and isinstance(bounds[1], (int, float)) and bounds[0] > bounds[1]:
        raise ctx.fail(f"{path}.keys", f"lo ({lo}) must not exceed hi ({hi})")
    return {"scope": ReconcileScopeKind.KEYS, "key_lo": lo, "key_hi": hi}


def _parse_reconcile(ctx: _Ctx, data: Any, *, schedule: str | None, lanes: int,
                     source: SourceSpec, mode: LoadMode) -> ReconcileSpec | None:
    """The ``reconcile`` section: schedule (cron), scope, mode (report or repair), leaf_rows, parallel,
    max_repair_rows."""
    if data is None:
        return None
    if source.kind != SourceKind.TABLE:
        raise ctx.fail("reconcile", f"compares a source table with the target: a {source.kind} source cannot be "
                                    "reconciled (give source.table)")
    if not isinstance(data, Mapping):
        raise ctx.fail("reconcile", "must be a mapping with schedule and scope (and optionally mode, leaf_rows, "
                                    "parallel)")
    ctx.check_keys("reconcile", data, _RECONCILE_KEYS)
    for key in ("schedule", "scope"):
        if key not in data:
            raise ctx.fail(f"reconcile.{key}", "is required")
    rec_mode = data.get("mode", _RECONCILE_DEFAULTS["mode"])
    _choice(ctx, "reconcile.mode", rec_mode, RECONCILE_MODES)
    if rec_mode == "repair" and mode == LoadMode.APPEND:
        raise ctx.fail("reconcile.mode", "'repair' re-syncs differing records by key, and append mode never "
                                         "rewrites a row: use mode: report (or load in upsert / delete_insert mode)")
    parallel = ctx.integer("reconcile.parallel", data.get("parallel", _RECONCILE_DEFAULTS["parallel"]),
                           minimum=1, maximum=MAX_RECONCILE_PARALLEL)
    if parallel > lanes:
        raise ctx.fail("reconcile.parallel", f"must be <= lanes ({lanes}): the batch's pool slots it may "
                                             f"take at once, got {parallel}")
    return ReconcileSpec(
        schedule=_cron(ctx, "reconcile.schedule", data["schedule"]),
        mode=rec_mode,
        max_repair_rows=ctx.integer("reconcile.max_repair_rows",
                                    data.get("max_repair_rows", _RECONCILE_DEFAULTS["max_repair_rows"]),
                                    minimum=1, maximum=MAX_REPAIR_ROWS),
        leaf_rows=ctx.integer("reconcile.leaf_rows", data.get("leaf_rows", _RECONCILE_DEFAULTS["leaf_rows"]),
                              minimum=1, maximum=MAX_LEAF_ROWS),
        parallel=parallel,
        **_parse_reconcile_scope(ctx, data["scope"], schedule),
    )


def _parse_alerting(ctx: _Ctx, data: Any) -> AlertingSpec:
    if data is None:
        return AlertingSpec()
    try:
        return parse_alerting(data)
    except AlertingSpecError as exc:
        path, _, msg = str(exc).partition(": ")
        raise ctx.fail(path if path.startswith("alerting") else "alerting", msg or str(exc)) from None


def parse_spec(data: Any, *, origin: str = "<spec>", lines: Mapping[str, int] | None = None) -> BatchSpec:
    """Validate a spec mapping (as read from YAML) into a BatchSpec.

    ``lines`` maps field paths (``source.table``) to their line in ``origin``, for messages.
    """
    if not isinstance(data, Mapping):
        raise SpecError(f"{origin}: a batch spec must be a mapping, got {type(data).__name__}", origin=origin)
    raw_name = data.get("name")
    file_origin = origin if origin != "<spec>" else None
    ctx = _Ctx(raw_name if isinstance(raw_name, str) else origin, origin=file_origin, lines=lines)
    ctx.check_keys("", data, _TOP_KEYS)
    for key in _REQUIRED:
        if key not in data:
            raise ctx.fail(key, "is required")
    d = {**_DEFAULTS, **data}
    name = ctx.ident("name", raw_name)
    source = _parse_source(ctx, data["source"])
    target = _parse_target(ctx, data["target"])
    keys = data["keys"]
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys:
        raise ctx.fail("keys", "must be a non-empty list of key column names")
    key_cols = tuple(ctx.ident(f"keys[{i}]", k) for i, k in enumerate(keys))
    for col in target.distribute_by:
        if col not in key_cols:
            raise ctx.fail("target.distribute_by", f"distribution column {col!r} must be one of the keys {list(key_cols)}")
    schedule, adaptive = _parse_schedule(ctx, data["schedule"])
    _check_adaptive_source(ctx, source, adaptive)
    chunk_sizing = _parse_chunk_sizing(ctx, data, adaptive)
    mode = LoadMode(_choice(ctx, "mode", d["mode"], MODES))
    if mode == LoadMode.DELETE_INSERT:
        if target.interval_column is None and source.interval_column is None:
            raise ctx.fail("target.interval_column", "delete_insert needs the target column that bounds an "
                                                     "interval (defaults to source.interval_column)")
        if target.interval_column is None:
            target = dataclasses.replace(target, interval_column=source.interval_column)
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ctx.fail("tags", "must be a list of strings")
    throttle = d["throttle_rows_per_second"]
    same = d["same_database"]
    if same is not None and not isinstance(same, bool):
        raise ctx.fail("same_database", "must be true or false")
    for key in ("catchup",):
        if not isinstance(d[key], bool):
            raise ctx.fail(key, f"must be true or false, got {d[key]!r}")
    lanes = ctx.integer("lanes", d["lanes"], minimum=1, maximum=MAX_LANES)
    return BatchSpec(
        name=name,
        description=str(d["description"]),
        schedule=schedule,
        adaptive=adaptive,
        timezone=_timezone(ctx, d["timezone"]),
        start_date=_parse_date(ctx, d["start_date"]),
        catchup=d["catchup"],
        owner=ctx.string("owner", d["owner"]),
        tags=tuple(["gaussdb-batch", *tags]),
        source=source,
        target=target,
        keys=key_cols,
        mode=mode,
        chunk_rows=ctx.integer("chunk_rows", d["chunk_rows"], minimum=1, maximum=MAX_CHUNK_ROWS),
        lanes=lanes,
        pool=ctx.string("pool", d["pool"]),
        extract_pool=ctx.string("extract_pool", d["extract_pool"]),
        max_rejects=ctx.integer("max_rejects", d["max_rejects"], minimum=0),
        retries=ctx.integer("retries", d["retries"], minimum=0),
        retry_delay_seconds=ctx.number("retry_delay_seconds", d["retry_delay_seconds"], minimum=0),
        retry_exponential_backoff=ctx.number("retry_exponential_backoff", d["retry_exponential_backoff"],
                                             minimum=1.0),
        max_retry_delay_seconds=ctx.number("max_retry_delay_seconds", d["max_retry_delay_seconds"], minimum=0),
        throttle_rows_per_second=(
            ctx.number("throttle_rows_per_second", throttle, minimum=0, strict=True) if throttle is not None else None
        ),
        retention_days=ctx.integer("retention_days", d["retention_days"], minimum=0, maximum=MAX_RETENTION_DAYS),
        on_overlap=Overlap(_choice(ctx, "on_overlap", d["on_overlap"], OVERLAP)),
        load_path=LoadPath(_choice(ctx, "load_path", d["load_path"], LOAD_PATHS)),
        lease_seconds=ctx.integer("lease_seconds", d["lease_seconds"], minimum=1, maximum=MAX_LEASE_SECONDS),
        control_schema=ctx.ident("control_schema", d["control_schema"]),
        same_database=same,
        alerting=_parse_alerting(ctx, data.get("alerting")),
        checks=_parse_checks(ctx, data.get("checks")),
        chunk_sizing=chunk_sizing,
        reconcile=_parse_reconcile(ctx, data.get("reconcile"), schedule=schedule, lanes=lanes, source=source,
                                   mode=mode),
    )


def _timezone(ctx: _Ctx, value: Any) -> str:
    import zoneinfo

    name = ctx.string("timezone", value)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ctx.fail("timezone", f"{name!r} is not a known time zone (e.g. UTC, Asia/Shanghai)") from None
    return name


def _choice(ctx: _Ctx, path: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ctx.fail(path, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _field_lines(node: yaml.Node, prefix: str = "", out: dict[str, int] | None = None) -> dict[str, int]:
    """Field path (``source.table``, ``keys[1]``) -> 1-based line, from a composed YAML node tree."""
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            out.setdefault(path, key_node.start_mark.line + 1)
            _field_lines(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            out.setdefault(path, item.start_mark.line + 1)
            _field_lines(item, path, out)
    return out


def read_spec_file(path: str | Path) -> tuple[Any, dict[str, int]]:
    """The YAML document of a spec file and the line of each of its fields."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{p}: cannot read the spec: {exc.strerror or exc}", origin=str(p)) from None
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        where = f"{p}:{line}" if line else str(p)
        raise SpecError(f"{where}: not valid YAML: {exc}", origin=str(p), line=line) from None
    return data, (_field_lines(node) if node is not None else {})


def load_spec(path: str | Path) -> BatchSpec:
    """Read and validate one YAML spec file; errors name the file, the line and the field."""
    data, lines = read_spec_file(path)
    return parse_spec(data, origin=str(path), lines=lines)


def load_specs(folder: str | Path) -> list[BatchSpec]:
    """Every ``*.yaml`` spec in a folder, sorted by file name; names must be unique."""
    specs = [load_spec(p) for p in sorted(Path(folder).glob("*.yaml"))]
    seen: dict[str, int] = {}
    for s in specs:
        seen[s.name] = seen.get(s.name, 0) + 1
    dupes = [n for n, c in seen.items() if c > 1]
    if dupes:
        raise SpecError(f"{folder}: batch names must be unique, duplicated: {dupes}")
    return specs
