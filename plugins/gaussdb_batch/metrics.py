"""The one place that names gaussdb_batch metrics; everything else calls these functions.

Plain StatsD has no tags, so the batch (and, for runs, the final status) is part of the
metric name. With Airflow's default ``[metrics] statsd_prefix = airflow`` a call such as
``rows_loaded("orders_daily", 500)`` sends ``airflow.gaussdb_batch.orders_daily.rows_loaded:500|c``
and ``include/monitoring/statsd_mapping.yml`` turns it into
``gaussdb_batch_rows_loaded_total{batch="orders_daily"}``.

Every function emits through ``airflow.sdk.observability.stats``, so it honours Airflow's
``[metrics]`` configuration (``statsd_on``, ``statsd_host``, ``statsd_port``,
``statsd_prefix``, allow/block lists) and is a no-op when metrics are off. A metric is never
worth a failed batch: nothing here raises into task code.
"""

from __future__ import annotations

import logging
import math
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from airflow.sdk.observability import stats
from airflow.utils.state import DagRunState

from gaussdb_batch.engine.state import RunStatus

log = logging.getLogger(__name__)

NAMESPACE = "gaussdb_batch"
#: Longest batch component; keeps the full StatsD name under Airflow's 250-character limit.
MAX_BATCH_NAME = 100
#: Run statuses that count as a success (they refresh ``last_success_timestamp``), as ``sanitize`` spells
#: them: the engine's finished run and Airflow's successful DAG run.
SUCCESS_STATUSES = frozenset({RunStatus.DONE.lower(), DagRunState.SUCCESS.value})

_UNSAFE = re.compile(r"[^a-z0-9_]+")
_initialized_in_pid: int | None = None


class MetricSpec(NamedTuple):
    """One StatsD metric this module emits and the Prometheus series the exporter mapping makes of it."""

    suffix: str  # the part after ``gaussdb_batch.<batch>.``; ``{status}`` is filled per call
    statsd_type: str  # counter | gauge | timer
    prometheus_name: str
    description: str


#: Every metric this module emits. docs/observability.md and the mapping tests read this table.
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("rows_extracted", "counter", "gaussdb_batch_rows_extracted_total",
               "Rows read from the source and landed."),
    MetricSpec("rows_loaded", "counter", "gaussdb_batch_rows_loaded_total",
               "Rows written into the target (chunk committed)."),
    MetricSpec("rows_rejected", "counter", "gaussdb_batch_rows_rejected_total",
               "Rows isolated into the rejects table."),
    MetricSpec("chunk_duration", "timer", "gaussdb_batch_chunk_duration_seconds",
               "Wall time of one chunk (claim to commit); a histogram in Prometheus."),
    MetricSpec("chunks_retried", "counter", "gaussdb_batch_chunks_retried_total",
               "Chunks claimed again after a failed or killed attempt."),
    MetricSpec("check_mismatches", "counter", "gaussdb_batch_check_mismatches_total",
               "Chunks whose landing and target counts or fingerprints differed."),
    MetricSpec("compensations", "counter", "gaussdb_batch_compensations_total",
               "Runs undone from the undo journal."),
    MetricSpec("backlog_rows", "gauge", "gaussdb_batch_backlog_rows",
               "Rows waiting in the source for this batch."),
    MetricSpec("lag_seconds", "gauge", "gaussdb_batch_lag_seconds",
               "How far the newest finished data interval trails the schedule."),
    MetricSpec("schedule_interval_seconds", "gauge", "gaussdb_batch_schedule_interval_seconds",
               "Length of the batch's data interval (alerts measure lateness in intervals)."),
    MetricSpec("last_success_timestamp", "gauge", "gaussdb_batch_last_success_timestamp_seconds",
               "Unix time of the last run that finished with status done/success."),
    MetricSpec("run_finished.{status}", "counter", "gaussdb_batch_runs_finished_total",
               "Runs that reached a final status (label ``status``)."),
    MetricSpec("reconcile_differences.{kind}", "counter", "gaussdb_batch_reconcile_differences_total",
               "Differing rows a scheduled reconciliation found (label ``kind``: missing_in_target, "
               "extra_in_target, changed)."),
    MetricSpec("reconcile_duration", "timer", "gaussdb_batch_reconcile_duration_seconds",
               "Wall time of one scheduled reconciliation; a histogram in Prometheus."),
    MetricSpec("reconcile_ranges", "counter", "gaussdb_batch_reconcile_ranges_total",
               "Key ranges a scheduled reconciliation compared (count and digest on both servers)."),
)


def sanitize(name: str) -> str:
    """Reduce a batch name or status to ``[a-z0-9_]`` so it is exactly one StatsD name component."""
    cleaned = _UNSAFE.sub("_", str(name).strip().lower()).strip("_")
    return cleaned[:MAX_BATCH_NAME] or "unknown"


def metric_name(batch: str, suffix: str) -> str:
    """The StatsD name (without Airflow's ``statsd_prefix``) for one metric of one batch."""
    return f"{NAMESPACE}.{sanitize(batch)}.{suffix}"


def _ensure_initialized() -> None:
    """Set Airflow's stats backend up from ``[metrics]`` where nothing else did.

    The task runner initialises it before task code runs; ``dag.test()`` runs tasks in-process
    without that step, so metrics would silently go nowhere there. Only an uninitialised
    backend is touched, once per process.
    """
    global _initialized_in_pid
    if _initialized_in_pid == os.getpid():
        return
    _initialized_in_pid = os.getpid()
    impl = sys.modules.get(stats.incr.__module__)
    if impl is None or getattr(impl, "_factory", "unknown") is not None:
        return
    from airflow.sdk.configuration import conf
    from airflow.sdk.observability.metrics import stats_utils

    stats.initialize(
        factory=stats_utils.get_stats_factory(),
        export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
    )


def _emit(kind: str, batch: str, suffix: str, value: float) -> None:
    """Send one value through Airflow's stats facade; a failure is logged, never raised."""
    try:
        name = metric_name(batch, suffix)
        _ensure_initialized()
        if kind == "counter":
            # A zero increment is still sent: it creates the series, so the first real increase
            # is visible to Prometheus' increase()/rate() instead of being taken as a start value.
            stats.incr(name, int(value))
        elif kind == "gauge":
            stats.gauge(name, value)
        else:
            stats.timing(name, value)
    except Exception:
        log.warning("Could not emit metric %s of batch %r", suffix, batch, exc_info=True)


def _count(value: object) -> int | None:
    """A non-negative int, or None (logged) for values a counter cannot take."""
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        log.warning("Metric value %r is not an integer; not emitted", value)
        return None
    if n < 0:
        log.warning("Metric value %s is negative; counters only go up, not emitted", n)
        return None
    return n


def _number(value: object) -> float | None:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        log.warning("Metric value %r is not a number; not emitted", value)
        return None
    if not math.isfinite(x):
        log.warning("Metric value %r is not finite; not emitted", value)
        return None
    return x


def _incr(batch: str, suffix: str, n: object) -> None:
    count = _count(n)
    if count is not None:
        _emit("counter", batch, suffix, count)


def _gauge(batch: str, suffix: str, value: object) -> None:
    x = _number(value)
    if x is not None:
        _emit("gauge", batch, suffix, x)


def rows_extracted(batch: str, n: int) -> None:
    """Count rows read from the source and landed for ``batch``."""
    _incr(batch, "rows_extracted", n)


def rows_loaded(batch: str, n: int) -> None:
    """Count rows written into the target by a committed chunk."""
    _incr(batch, "rows_loaded", n)


def rows_rejected(batch: str, n: int) -> None:
    """Count rows isolated into the rejects table (call with 0 to start the series)."""
    _incr(batch, "rows_rejected", n)


def chunk_retried(batch: str, n: int = 1) -> None:
    """Count chunks that had to be claimed again."""
    _incr(batch, "chunks_retried", n)


def check_mismatches(batch: str, n: int) -> None:
    """Count chunks whose reconciliation found a difference."""
    _incr(batch, "check_mismatches", n)


def compensation(batch: str) -> None:
    """Count one run of ``batch`` undone by compensation."""
    _incr(batch, "compensations", 1)


def chunk_duration(batch: str, seconds: float) -> None:
    """Record how long one chunk took (sent as a StatsD timer in milliseconds)."""
    x = _number(seconds)
    if x is not None and x >= 0:
        _emit("timer", batch, "chunk_duration", x * 1000.0)


@dataclass
class Elapsed:
    """What :func:`chunk_timer` measured; ``seconds`` is set when the block ends."""

    seconds: float | None = None


@contextmanager
def chunk_timer(batch: str) -> Iterator[Elapsed]:
    """Time a block as one chunk; the duration is recorded even when the block raises."""
    elapsed = Elapsed()
    start = time.monotonic()
    try:
        yield elapsed
    finally:
        elapsed.seconds = time.monotonic() - start
        chunk_duration(batch, elapsed.seconds)


def backlog(batch: str, rows: int) -> None:
    """Set how many source rows wait for ``batch``."""
    _gauge(batch, "backlog_rows", rows)


def lag_seconds(batch: str, seconds: float) -> None:
    """Set how far ``batch`` trails its schedule; send 0 when it has caught up."""
    _gauge(batch, "lag_seconds", seconds)


def schedule_interval(batch: str, seconds: float) -> None:
    """Set the length of one data interval, the unit the lateness alerts count in."""
    _gauge(batch, "schedule_interval_seconds", seconds)


def run_finished(batch: str, status: str, *, interval_seconds: float | None = None) -> None:
    """Count a run reaching its final ``status`` (done, failed, compensated, ...).

    A successful status also sets ``last_success_timestamp`` to now, which the
    "no successful run for N intervals" alert compares against ``interval_seconds``.
    """
    state = sanitize(status)
    _incr(batch, f"run_finished.{state}", 1)
    if state in SUCCESS_STATUSES:
        _gauge(batch, "last_success_timestamp", time.time())
    if interval_seconds is not None:
        schedule_interval(batch, interval_seconds)


def reconcile_finished(batch: str, differences: Mapping[str, int], *, seconds: float, ranges: int) -> None:
    """Record one reconciliation: differing rows per kind (zeros too, to start the series), its
    duration (a StatsD timer in milliseconds) and the key ranges it compared."""
    for kind, n in differences.items():
        _incr(batch, f"reconcile_differences.{sanitize(kind)}", n)
    x = _number(seconds)
    if x is not None and x >= 0:
        _emit("timer", batch, "reconcile_duration", x * 1000.0)
    _incr(batch, "reconcile_ranges", ranges)
