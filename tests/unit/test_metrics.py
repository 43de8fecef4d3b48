"""gaussdb_batch.metrics sends the documented StatsD lines through Airflow's own stats backend."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from airflow.sdk.observability import stats
from airflow.sdk.observability.metrics import stats_utils

from gaussdb_batch import metrics

STATS_IMPL = sys.modules[stats.incr.__module__]


class UdpSink:
    """A StatsD 'server': a UDP socket on 127.0.0.1 that hands back the lines it received."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def lines(self, expected: int, timeout: float = 2.0) -> list[str]:
        """Wait for ``expected`` lines (or the timeout), then drain what else is already there."""
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                out.extend(self.sock.recv(65535).decode().splitlines())
            except TimeoutError:
                break
        self.sock.settimeout(0.05)
        try:
            while True:
                out.extend(self.sock.recv(65535).decode().splitlines())
        except (TimeoutError, BlockingIOError):
            pass
        return out


@pytest.fixture
def fresh_stats(monkeypatch):
    """Forget whatever stats backend this process had; monkeypatch restores it afterwards."""
    monkeypatch.setattr(STATS_IMPL, "_factory", None)
    monkeypatch.setattr(STATS_IMPL, "_backend", None)
    monkeypatch.setattr(metrics, "_initialized_in_pid", None)


def _configure(monkeypatch, sink: UdpSink, *, on: bool = True, prefix: str = "airflow") -> None:
    """The [metrics] settings, as AIRFLOW__METRICS__* variables, pointing at ``sink``."""
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", str(on))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(sink.port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", prefix)


@pytest.fixture
def sink(monkeypatch, fresh_stats):
    """Airflow configured as a worker would be with statsd on, pointed at a local UDP sink."""
    s = UdpSink()
    _configure(monkeypatch, s)
    # What the task runner does before any task code runs.
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    yield s
    s.sock.close()


def _split(line: str) -> tuple[str, float, str]:
    name, _, rest = line.partition(":")
    value, _, kind = rest.partition("|")
    return name, float(value), kind


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: metrics.rows_extracted("orders_daily", 1200), ("rows_extracted", 1200, "c")),
        (lambda: metrics.rows_loaded("orders_daily", 500), ("rows_loaded", 500, "c")),
        (lambda: metrics.rows_rejected("orders_daily", 3), ("rows_rejected", 3, "c")),
        (lambda: metrics.rows_rejected("orders_daily", 0), ("rows_rejected", 0, "c")),
        (lambda: metrics.chunk_retried("orders_daily"), ("chunks_retried", 1, "c")),
        (lambda: metrics.chunk_retried("orders_daily", 4), ("chunks_retried", 4, "c")),
        (lambda: metrics.check_mismatches("orders_daily", 2), ("check_mismatches", 2, "c")),
        (lambda: metrics.compensation("orders_daily"), ("compensations", 1, "c")),
        (lambda: metrics.chunk_duration("orders_daily", 1.5), ("chunk_duration", 1500.0, "ms")),
        (lambda: metrics.backlog("orders_daily", 98765), ("backlog_rows", 98765, "g")),
        (lambda: metrics.lag_seconds("orders_daily", 42.5), ("lag_seconds", 42.5, "g")),
        (lambda: metrics.schedule_interval("orders_daily", 3600), ("schedule_interval_seconds", 3600, "g")),
        (lambda: metrics.run_finished("orders_daily", "failed"), ("run_finished.failed", 1, "c")),
        (lambda: metrics.run_finished("orders_daily", "COMPENSATED"), ("run_finished.compensated", 1, "c")),
    ],
)
def test_each_function_sends_one_prefixed_line(sink, call, expected):
    call()
    suffix, value, kind = expected
    assert [_split(line) for line in sink.lines(1)] == [
        (f"airflow.gaussdb_batch.orders_daily.{suffix}", value, kind)
    ]


def test_successful_run_also_sets_last_success_and_interval(sink):
    before = time.time()
    metrics.run_finished("orders_daily", "done", interval_seconds=86400)
    got = {name: (value, kind) for name, value, kind in map(_split, sink.lines(3))}
    assert got["airflow.gaussdb_batch.orders_daily.run_finished.done"] == (1, "c")
    assert got["airflow.gaussdb_batch.orders_daily.schedule_interval_seconds"] == (86400, "g")
    stamp, kind = got["airflow.gaussdb_batch.orders_daily.last_success_timestamp"]
    assert kind == "g" and before - 1 <= stamp <= time.time() + 1


def test_failed_run_leaves_last_success_alone(sink):
    metrics.run_finished("orders_daily", "failed")
    assert [name for name, _, _ in map(_split, sink.lines(2, timeout=0.5))] == [
        "airflow.gaussdb_batch.orders_daily.run_finished.failed"
    ]


def test_chunk_timer_records_even_when_the_chunk_raises(sink):
    with pytest.raises(RuntimeError, match="boom"):
        with metrics.chunk_timer("orders_daily") as elapsed:
            time.sleep(0.02)
            raise RuntimeError("boom")
    assert elapsed.seconds is not None and elapsed.seconds >= 0.02
    (name, ms, kind), = map(_split, sink.lines(1))
    assert (name, kind) == ("airflow.gaussdb_batch.orders_daily.chunk_duration", "ms")
    assert ms == pytest.approx(elapsed.seconds * 1000, abs=1)


def test_statsd_off_sends_nothing(monkeypatch, fresh_stats):
    s = UdpSink()
    _configure(monkeypatch, s, on=False)
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    metrics.rows_loaded("orders_daily", 5)
    metrics.lag_seconds("orders_daily", 5)
    assert s.lines(1, timeout=0.3) == []


def test_uninitialised_backend_is_set_up_from_airflow_config(monkeypatch, fresh_stats):
    """dag.test() runs tasks in-process without the task runner's stats.initialize()."""
    s = UdpSink()
    _configure(monkeypatch, s, prefix="etl")
    metrics.compensation("orders_daily")
    assert s.lines(1) == ["etl.gaussdb_batch.orders_daily.compensations:1|c"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("orders_daily", "orders_daily"),
        ("Orders-Daily", "orders_daily"),
        ("crm.customers v2", "crm_customers_v2"),
        ("__x__", "x"),
        ("订单", "unknown"),
        ("", "unknown"),
        ("a" * 300, "a" * metrics.MAX_BATCH_NAME),
    ],
)
def test_sanitize_keeps_one_safe_name_component(raw, clean):
    assert metrics.sanitize(raw) == clean


def test_bad_values_are_dropped_not_raised(sink):
    metrics.rows_loaded("b", -1)
    metrics.rows_loaded("b", "many")
    metrics.lag_seconds("b", float("nan"))
    metrics.chunk_duration("b", -3)
    metrics.rows_loaded("b", 7)  # the only valid one
    assert sink.lines(2, timeout=0.5) == ["airflow.gaussdb_batch.b.rows_loaded:7|c"]


@pytest.mark.parametrize("method", ["incr", "gauge", "timing"])
def test_a_broken_backend_never_reaches_task_code(monkeypatch, method):
    def explode(*args, **kwargs):
        raise OSError("statsd host unreachable")

    monkeypatch.setattr(stats, method, explode)
    metrics.rows_loaded("b", 1)
    metrics.backlog("b", 1)
    metrics.chunk_duration("b", 1)
    with metrics.chunk_timer("b"):
        pass
    metrics.run_finished("b", "done", interval_seconds=60)


def test_metric_table_names_every_suffix_emitted(sink):
    """docs and the exporter mapping are generated from METRICS; nothing may bypass it."""
    for call in (
        lambda: metrics.rows_extracted("t", 1), lambda: metrics.rows_loaded("t", 1),
        lambda: metrics.rows_rejected("t", 1), lambda: metrics.chunk_duration("t", 1),
        lambda: metrics.chunk_retried("t"), lambda: metrics.check_mismatches("t", 1),
        lambda: metrics.compensation("t"), lambda: metrics.backlog("t", 1),
        lambda: metrics.lag_seconds("t", 1),
        lambda: metrics.run_finished("t", "done", interval_seconds=1),
        lambda: metrics.reconcile_finished("t", {"changed": 2}, seconds=1.5, ranges=3),
    ):
        call()
    emitted = {_split(line)[0].removeprefix("airflow.gaussdb_batch.t.") for line in sink.lines(15)}
    declared = {spec.suffix.replace("{status}", "done").replace("{kind}", "changed") for spec in metrics.METRICS}
    assert emitted == declared
