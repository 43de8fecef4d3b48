"""The reconcile task's scope: the last N data intervals of the batch's own schedule, ending at the run's time."""

from __future__ import annotations

import datetime as dt

import pytest

from gaussdb_batch.operators.reconcile import last_intervals

UTC = dt.timezone.utc


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "n", "when", "expected"),
    [
        # daily batch, reconciled at 03:30: the last 3 whole days before today's midnight
        ("0 0 * * *", 3, at(2024, 3, 10, 3, 30), (at(2024, 3, 7), at(2024, 3, 10))),
        # a run exactly on a tick of the batch includes the interval that just ended
        ("0 0 * * *", 1, at(2024, 3, 10), (at(2024, 3, 9), at(2024, 3, 10))),
        ("@hourly", 2, at(2024, 3, 10, 5, 59, 59), (at(2024, 3, 10, 3), at(2024, 3, 10, 5))),
        ("*/15 * * * *", 4, at(2024, 3, 10, 1, 7), (at(2024, 3, 10, 0, 0), at(2024, 3, 10, 1, 0))),
        # month ends are the schedule's, not 30 days
        ("0 0 1 * *", 2, at(2024, 3, 15), (at(2024, 1, 1), at(2024, 3, 1))),
    ],
)
def test_last_intervals_end_at_the_latest_tick_not_after_the_run(schedule, n, when, expected):
    assert last_intervals(schedule, "UTC", n, when) == expected


def test_last_intervals_follow_the_batch_timezone():
    # 03:30 UTC is 11:30 in Shanghai, whose midnight is 16:00 UTC the day before
    start, end = last_intervals("0 0 * * *", "Asia/Shanghai", 2, at(2024, 3, 10, 3, 30))
    assert (start, end) == (at(2024, 3, 7, 16), at(2024, 3, 9, 16))
    assert start.tzinfo == UTC and end.tzinfo == UTC


def test_the_operator_reports_counts_alerts_and_succeeds(monkeypatch):
    """Report mode: differences found are an XCom, metrics, a warning and an alert; never a failure."""
    import sys
    import types
    from dataclasses import dataclass

    from gaussdb_batch import alerting, metrics
    from gaussdb_batch.engine.choices import DiffKind
    from gaussdb_batch.engine.spec_parser import parse_spec
    from gaussdb_batch.operators.reconcile import ReconcileOperator

    @dataclass(frozen=True)
    class Scope:
        kind: str
        start: dt.datetime | None
        end: dt.datetime | None
        key_lo: str | None
        key_hi: str | None

    calls: dict = {}

    def reconcile(ctx, scope, *, leaf_rows, parallel, mode):
        calls.update(scope=scope, leaf_rows=leaf_rows, parallel=parallel, mode=mode)
        return types.SimpleNamespace(recon_id=7, scope=scope, source_rows=100, target_rows=99, ranges_compared=12,
                                     differences={DiffKind.MISSING: 2, DiffKind.CHANGED: 1}, records=[],
                                     bytes_fetched=10, seconds=1.25)

    fake = types.ModuleType("gaussdb_batch.engine.reconciliation")
    fake.ReconcileScope, fake.reconcile = Scope, reconcile  # type: ignore[attr-defined]
    fake.ReconcileScopeError = ValueError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gaussdb_batch.engine.reconciliation", fake)
    emitted, alerts = [], []
    monkeypatch.setattr(metrics, "reconcile_finished", lambda *a, **k: emitted.append((a, k)))
    monkeypatch.setattr(alerting, "reconcile_notifier",
                        lambda spec, batch: lambda message, context=None: alerts.append((batch, message)))
    spec = parse_spec({"name": "items", "schedule": "0 0 * * *", "keys": ["k"],
                       "source": {"conn_id": "src", "table": "app.items", "interval_column": "updated_at"},
                       "target": {"conn_id": "dst", "table": "dw.items"},
                       "reconcile": {"schedule": "30 3 * * *", "scope": {"last_intervals": 2}, "parallel": 1}})
    op = ReconcileOperator(task_id="reconcile", spec=spec)
    xcom = op.execute({"logical_date": at(2024, 3, 10, 3, 30)})
    assert calls["scope"] == Scope("intervals", at(2024, 3, 8), at(2024, 3, 10), None, None)
    assert (calls["leaf_rows"], calls["parallel"], calls["mode"]) == (2000, 1, "report")
    assert xcom["recon_id"] == 7 and xcom["differences"] == 3
    assert (xcom["missing_in_target"], xcom["extra_in_target"], xcom["changed"]) == (2, 0, 1)
    assert emitted == [(("items", {"missing_in_target": 2, "extra_in_target": 0, "changed": 1}),
                        {"seconds": 1.25, "ranges": 12})]
    assert len(alerts) == 1 and alerts[0][0] == "items" and "3 rows differ" in alerts[0][1]
