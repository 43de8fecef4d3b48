"""Batch specs: the typed, frozen model of one scheduled batch; engine.spec_parser builds it from YAML.

Every default lives in the dataclasses below (the parser reads them from here), and every
part is parsed once and completely: the choices are enums (engine.choices), ``checks``
holds the parsed expectation suite, ``alerting`` is always an AlertingSpec (empty when the
spec has none) and adaptive chunk sizing is one ChunkSizing (None: chunk_rows is fixed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gaussdb_batch.engine.choices import LoadMode, LoadPath, Overlap, ReconcileScopeKind, SourceKind
from gaussdb_batch.engine.suite_spec import SuiteSpec
from gaussdb_batch.identifiers import TableRef

#: Upper bounds: beyond them a chunk holds locks too long, a run opens too many sessions, or a
#: date cannot subtract the retention (timedelta stops at ~2.7 million days).
MAX_CHUNK_ROWS, MAX_LANES, MAX_RETENTION_DAYS, MAX_LEASE_SECONDS = 1_000_000, 64, 36_500, 7 * 86_400
#: Reconciliation bounds: rows of a range compared record by record, ranges compared at once, intervals.
MAX_LEAF_ROWS, MAX_RECONCILE_PARALLEL, MAX_LAST_INTERVALS = 100_000, 16, 1_000
#: The most differing records one repair may re-sync (its key list travels in the source's statement).
MAX_REPAIR_ROWS = 1_000_000


class SpecError(ValueError):
    """A batch spec is invalid; the message names the file, line, batch and field.

    ``origin`` (the file), ``line`` (1-based, None when unknown), ``field`` (``source.table``)
    and ``hint`` (the key probably meant) are kept for tools that report errors themselves.
    """

    def __init__(self, message: str, *, origin: str | None = None, line: int | None = None,
                 field: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.origin, self.line, self.field, self.hint = origin, line, field, hint


@dataclass(frozen=True)
class Target:
    """One place an alert goes (``alerting.on_failure[0]``): a notifier type, its connection and its options."""

    type: str
    conn_id: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def kwargs(self, **extra: Any) -> dict[str, Any]:
        return {"conn_id": self.conn_id, **self.options, **extra}


@dataclass(frozen=True)
class AlertingSpec:
    """The ``alerting`` section: where each event's alerts go (gaussdb_batch.alerting turns them into notifiers)."""

    on_failure: tuple[Target, ...] = ()
    on_retry: tuple[Target, ...] = ()
    on_compensation: tuple[Target, ...] = ()
    late_after_minutes: int | None = None


@dataclass(frozen=True)
class RangeCheck:
    """``checks.ranges.<column>``: rows the run loaded must lie within [min, max] (either bound optional)."""

    column: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class ChecksSpec:
    """The ``checks`` section: built-in checks on the rows a run loaded, and an expectation suite."""

    not_null: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()
    ranges: tuple[RangeCheck, ...] = ()
    #: The great-expectations suite (a JSON file under include/, or an inline list), parsed once with the spec.
    expectations: SuiteSpec | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every target column a built-in check names (pre-flight checks they exist)."""
        names = [*self.not_null, *(c for group in self.unique for c in group), *(r.column for r in self.ranges)]
        return tuple(dict.fromkeys(names))

    def __bool__(self) -> bool:
        return bool(self.not_null or self.unique or self.ranges or self.expectations)


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
    def kind(self) -> SourceKind:
        return SourceKind.FILES if self.files else (SourceKind.SQL if self.sql else SourceKind.TABLE)


@dataclass(frozen=True)
class TargetSpec:
    conn_id: str
    table: TableRef
    distribute_by: tuple[str, ...] = ()
    #: delete_insert mode: the target column that places a row in a data interval.
    interval_column: str | None = None

    @property
    def interval(self) -> str:
        """The interval column, which delete_insert requires (the parser refuses a spec without it)."""
        if self.interval_column is None:
            raise SpecError(f"target {self.table}: no interval_column (delete_insert needs one)")
        return self.interval_column


@dataclass(frozen=True)
class AdaptiveSpec:
    t_min: float
    t_max: float
    step: float
    backlog_threshold: int
    watermark_column: str | None = None


@dataclass(frozen=True)
class ChunkSizing:
    """Adaptive chunk size (adaptive schedules): AIMD toward ``target_seconds`` per chunk within min..max rows."""

    target_seconds: float
    min_rows: int
    max_rows: int
    #: Rows added after a run whose chunks finished under the target (defaults to min_rows).
    step: int


@dataclass(frozen=True)
class ReconcileSpec:
    """The ``reconcile`` section: a scheduled comparison of the live source with the target.

    ``scope`` is what to compare: the last ``last_intervals`` data intervals of the batch's own
    schedule (ending at the reconcile run's logical time), the keys ``key_lo..key_hi``, or the
    whole table. ``mode: report`` records and alerts the differences and changes nothing; ``mode: repair``
    then re-syncs the differing records from the source as a run of their own (chunked, journaled,
    checked, undone by the rollback DAG); rows only the target has are deleted only in delete_insert mode.
    """

    schedule: str
    scope: ReconcileScopeKind = ReconcileScopeKind.TABLE
    last_intervals: int | None = None
    key_lo: str | None = None
    key_hi: str | None = None
    mode: str = "report"
    #: A key range this small (in rows) is compared record by record instead of split again.
    leaf_rows: int = 2000
    #: Key ranges compared at once (also bounded by the batch's pool).
    parallel: int = 2
    #: repair: a reconciliation finding more differing records than this fails instead of repairing them.
    max_repair_rows: int = 100_000


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
    mode: LoadMode = LoadMode.UPSERT
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
    on_overlap: Overlap = Overlap.FAIL
    #: auto: chunks are key ranges the lanes read from the source where the batch allows it (engine.direct).
    load_path: LoadPath = LoadPath.AUTO
    #: How long an attempt stays owned without a sign of life (a chunk commit, a step).
    lease_seconds: int = 600
    control_schema: str = "gaussdb_batch"
    same_database: bool | None = None
    alerting: AlertingSpec = field(default_factory=AlertingSpec)
    checks: ChecksSpec = field(default_factory=ChecksSpec)
    #: Adaptive chunk size (spec keys chunk_target_seconds, chunk_rows_min/max/step); None: chunk_rows fixed.
    chunk_sizing: ChunkSizing | None = None
    #: The scheduled reconciliation (a ``<name>__reconcile`` DAG); None: the batch has none.
    reconcile: ReconcileSpec | None = None

    @property
    def adaptive_schedule(self) -> AdaptiveSpec:
        """The adaptive schedule of an adaptive batch (its DAG and operators exist only then)."""
        if self.adaptive is None:
            raise SpecError(f"batch {self.name!r} has no adaptive schedule")
        return self.adaptive

    @property
    def same_db(self) -> bool:
        """Source and target share a database: extract with INSERT ... SELECT, no COPY."""
        if self.same_database is not None:
            return self.same_database
        return self.source.kind != SourceKind.FILES and self.source.conn_id == self.target.conn_id

    @property
    def dag_id(self) -> str:
        return self.name
