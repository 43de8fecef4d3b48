"""Batch specs: a typed object per scheduled batch, loaded from YAML and validated before any SQL runs.

Every error names the batch and the field (``source.table``) and says what was expected,
so a bad spec fails at DAG parse time with a message a data engineer can act on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gaussdb_batch.identifiers import IdentifierError, TableRef, validate_identifier

MODES = ("upsert", "append", "delete_insert")
#: Schedule presets that give every run a data interval (``@once`` and ``@continuous`` do not).
CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight")
#: Upper bounds: beyond them a chunk holds locks too long, a run opens too many sessions, or a
#: date cannot subtract the retention (timedelta stops at ~2.7 million days).
MAX_CHUNK_ROWS, MAX_LANES, MAX_RETENTION_DAYS, MAX_LEASE_SECONDS = 1_000_000, 64, 36_500, 7 * 86_400
FILE_FORMATS = ("csv", "parquet")


class SpecError(ValueError):
    """A batch spec is invalid; the message names the batch and the field."""


@dataclass(frozen=True)
class SourceSpec:
    conn_id: str | None = None
    table: TableRef | None = None
    interval_column: str | None = None
    sql: str | None = None
    files: str | None = None
    file_format: str = "csv"
    order_by_key: bool = True
    #: Columns that order rows of one key within an interval: the greatest wins (e.g. updated_at).
    tie_break: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "files" if self.files else ("sql" if self.sql else "table")


@dataclass(frozen=True)
class TargetSpec:
    conn_id: str
    table: TableRef
    distribute_by: tuple[str, ...] = ()
    #: delete_insert mode: the target column that places a row in a data interval.
    interval_column: str | None = None


@dataclass(frozen=True)
class AdaptiveSpec:
    t_min: float
    t_max: float
    step: float
    backlog_threshold: int
    watermark_column: str | None = None


@dataclass(frozen=True)
class BatchSpec:
    name: str
    source: SourceSpec
    target: TargetSpec
    keys: tuple[str, ...]
    schedule: str | None = None
    adaptive: AdaptiveSpec | None = None
    timezone: str = "UTC"
    start_date: dt.datetime = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    catchup: bool = False
    description: str = ""
    owner: str = "data-engineering"
    tags: tuple[str, ...] = ()
    mode: str = "upsert"
    chunk_rows: int = 10_000
    lanes: int = 2
    pool: str = "gaussdb_load"
    extract_pool: str = "gaussdb_extract"
    max_rejects: int = 0
    retries: int = 3
    retry_delay_seconds: float = 30.0
    retry_exponential_backoff: float = 2.0
    max_retry_delay_seconds: float = 600.0
    throttle_rows_per_second: float | None = None
    retention_days: int = 7
    #: A second attempt at an interval whose owner is alive: fail at once, or wait for it.
    on_overlap: str = "fail"
    #: How long an attempt stays owned without a sign of life (a chunk commit, a step).
    lease_seconds: int = 600
    control_schema: str = "gaussdb_batch"
    same_database: bool | None = None
    alerting: Mapping[str, Any] = field(default_factory=dict)
    checks: Mapping[str, Any] = field(default_factory=dict)
    #: Adaptive chunk size (adaptive schedules): chunk_rows moves toward this chunk duration.
    chunk_target_seconds: float | None = None
    chunk_rows_min: int | None = None
    chunk_rows_max: int | None = None
    chunk_rows_step: int | None = None

    @property
    def same_db(self) -> bool:
        """Source and target share a database: extract with INSERT ... SELECT, no COPY."""
        if self.same_database is not None:
            return self.same_database
        return self.source.kind != "files" and self.source.conn_id == self.target.conn_id

    @property
    def dag_id(self) -> str:
        return self.name


_TOP_KEYS = {
    "name", "description", "schedule", "timezone", "start_date", "catchup", "owner", "tags",
    "source", "target", "keys", "mode", "chunk_rows", "lanes", "pool", "extract_pool",
    "max_rejects", "retries", "retry_delay_seconds", "retry_exponential_backoff",
    "max_retry_delay_seconds", "throttle_rows_per_second", "retention_days", "control_schema",
    "on_overlap", "lease_seconds",
    "same_database", "alerting", "checks",
    "chunk_target_seconds", "chunk_rows_min", "chunk_rows_max", "chunk_rows_step",
}
_SOURCE_KEYS = {"conn_id", "table", "interval_column", "sql", "files", "format", "order_by_key", "tie_break"}
OVERLAP = ("fail", "wait")
_TARGET_KEYS = {"conn_id", "table", "distribute_by", "interval_column"}
_ADAPTIVE_KEYS = {"type", "t_min", "t_max", "step", "backlog_threshold", "watermark_column"}
_REQUIRED = ("name", "source", "target", "keys", "schedule")


class _Ctx:
    """Error context: the batch's name, for messages."""

    def __init__(self, name: str):
        self.name = name

    def fail(self, path: str, msg: str) -> SpecError:
        return SpecError(f"batch {self.name!r}: {path}: {msg}")

    def check_keys(self, path: str, data: Mapping, allowed: set[str]) -> None:
        unknown = sorted(set(data) - allowed)
        if unknown:
            where = f"{path}.{unknown[0]}" if path else unknown[0]
            raise self.fail(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

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
    fmt = data.get("format", "csv")
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
        order_by_key=bool(data.get("order_by_key", True)),
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
    if source.kind != "table":
        raise ctx.fail("source.table", "an adaptive schedule counts its backlog in a source table: "
                                       "give source.table and source.interval_column")
    if adaptive.watermark_column and adaptive.watermark_column != source.interval_column:
        raise ctx.fail("schedule.watermark_column", f"must be the source's interval_column "
                                                    f"({source.interval_column!r}): extract cuts each run's interval on it")


def _parse_chunk_sizing(ctx: _Ctx, data: Mapping, adaptive: AdaptiveSpec | None) -> dict[str, Any]:
    """Adaptive chunk size: AIMD toward chunk_target_seconds within chunk_rows_min..chunk_rows_max."""
    given = [k for k in ("chunk_target_seconds", "chunk_rows_min", "chunk_rows_max", "chunk_rows_step")
             if data.get(k) is not None]
    if not given:
        return {}
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
    first = ctx.integer("chunk_rows", data.get("chunk_rows", 10_000), minimum=1)
    if not lo <= first <= hi:
        raise ctx.fail("chunk_rows", f"the first chunk size must lie in chunk_rows_min..chunk_rows_max "
                                     f"({lo}..{hi}), got {first}")
    step = ctx.integer("chunk_rows_step", data.get("chunk_rows_step", lo), minimum=1)
    return {"chunk_target_seconds": target, "chunk_rows_min": lo, "chunk_rows_max": hi, "chunk_rows_step": step}


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


def parse_spec(data: Any, *, origin: str = "<spec>") -> BatchSpec:
    """Validate a spec mapping (as read from YAML) into a BatchSpec."""
    if not isinstance(data, Mapping):
        raise SpecError(f"{origin}: a batch spec must be a mapping, got {type(data).__name__}")
    raw_name = data.get("name")
    ctx = _Ctx(raw_name if isinstance(raw_name, str) else origin)
    ctx.check_keys("", data, _TOP_KEYS)
    for key in _REQUIRED:
        if key not in data:
            raise ctx.fail(key, "is required")
    name = ctx.ident("name", raw_name)
    source = _parse_source(ctx, data["source"])
    target = _parse_target(ctx, data["target"])
    keys = data["keys"]
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys:
        raise ctx.fail("keys", "must be a non-empty list of key column names")
    key_cols = tuple(ctx.ident(f"keys[{i}]", k) for i, k in enumerate(keys))
    for d in target.distribute_by:
        if d not in key_cols:
            raise ctx.fail("target.distribute_by", f"distribution column {d!r} must be one of the keys {list(key_cols)}")
    schedule, adaptive = _parse_schedule(ctx, data["schedule"])
    _check_adaptive_source(ctx, source, adaptive)
    chunk_sizing = _parse_chunk_sizing(ctx, data, adaptive)
    mode = data.get("mode", "upsert")
    if mode not in MODES:
        raise ctx.fail("mode", f"must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "delete_insert":
        if target.interval_column is None and source.interval_column is None:
            raise ctx.fail("target.interval_column", "delete_insert needs the target column that bounds an "
                                                     "interval (defaults to source.interval_column)")
        if target.interval_column is None:
            target = TargetSpec(target.conn_id, target.table, target.distribute_by, source.interval_column)
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ctx.fail("tags", "must be a list of strings")
    throttle = data.get("throttle_rows_per_second")
    for key in ("alerting", "checks"):
        if data.get(key) is not None and not isinstance(data[key], Mapping):
            raise ctx.fail(key, "must be a mapping")
    if data.get("alerting"):
        from gaussdb_batch.alerting import AlertingSpecError, parse_alerting

        try:
            parse_alerting(data["alerting"])
        except AlertingSpecError as exc:
            raise ctx.fail("alerting", str(exc)) from None
    same = data.get("same_database")
    if same is not None and not isinstance(same, bool):
        raise ctx.fail("same_database", "must be true or false")
    return BatchSpec(
        name=name,
        description=str(data.get("description", "")),
        schedule=schedule,
        adaptive=adaptive,
        timezone=_timezone(ctx, data.get("timezone", "UTC")),
        start_date=_parse_date(ctx, data.get("start_date", "2024-01-01")),
        catchup=bool(data.get("catchup", False)),
        owner=ctx.string("owner", data.get("owner", "data-engineering")),
        tags=tuple(["gaussdb-batch", *tags]),
        source=source,
        target=target,
        keys=key_cols,
        mode=mode,
        chunk_rows=ctx.integer("chunk_rows", data.get("chunk_rows", 10_000), minimum=1, maximum=MAX_CHUNK_ROWS),
        lanes=ctx.integer("lanes", data.get("lanes", 2), minimum=1, maximum=MAX_LANES),
        pool=ctx.string("pool", data.get("pool", "gaussdb_load")),
        extract_pool=ctx.string("extract_pool", data.get("extract_pool", "gaussdb_extract")),
        max_rejects=ctx.integer("max_rejects", data.get("max_rejects", 0), minimum=0),
        retries=ctx.integer("retries", data.get("retries", 3), minimum=0),
        retry_delay_seconds=ctx.number("retry_delay_seconds", data.get("retry_delay_seconds", 30), minimum=0),
        retry_exponential_backoff=ctx.number(
            "retry_exponential_backoff", data.get("retry_exponential_backoff", 2.0), minimum=1.0
        ),
        max_retry_delay_seconds=ctx.number(
            "max_retry_delay_seconds", data.get("max_retry_delay_seconds", 600), minimum=0
        ),
        throttle_rows_per_second=(
            ctx.number("throttle_rows_per_second", throttle, minimum=0, strict=True) if throttle is not None else None
        ),
        retention_days=ctx.integer("retention_days", data.get("retention_days", 7), minimum=0,
                                   maximum=MAX_RETENTION_DAYS),
        on_overlap=_choice(ctx, "on_overlap", data.get("on_overlap", "fail"), OVERLAP),
        lease_seconds=ctx.integer("lease_seconds", data.get("lease_seconds", 600), minimum=1,
                                  maximum=MAX_LEASE_SECONDS),
        control_schema=ctx.ident("control_schema", data.get("control_schema", "gaussdb_batch")),
        same_database=same,
        alerting=dict(data.get("alerting") or {}),
        checks=dict(data.get("checks") or {}),
        **chunk_sizing,
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


def load_spec(path: str | Path) -> BatchSpec:
    """Read and validate one YAML spec file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(f"{p}: not valid YAML: {exc}") from None
    return parse_spec(data, origin=str(p))


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
