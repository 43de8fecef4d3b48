"""Overlapping attempts of one interval: one owner at a time, fenced writes, takeover after a crash.

Each attempt runs in its own process as its own DAG run (tests/integration/engine/run_proc.py),
as a manual trigger beside a scheduled run, or a backfill over a live interval, would. In every
case the target ends equal to the source (count + fingerprint), every chunk is loaded exactly
once (the ``loads`` counter), no process hangs, and the losing attempt names the winner.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import pytest

from tests.integration.engine.conftest import control_rows, fingerprint, interval_fingerprint, make_orders, slow_down

UTC = dt.timezone.utc
START, END = dt.datetime(2024, 1, 1, tzinfo=UTC), dt.datetime(2024, 1, 4, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[3]


def _attempt(spec: dict, dag_run: str, go: Path | None = None) -> subprocess.Popen:
    """An attempt in its own process; with ``go`` it waits, ready, until that file exists."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'plugins'}")
    args = {"spec": spec, "start": START.isoformat(), "end": END.isoformat(), "owner": ["orders_sync", dag_run],
            "go": str(go) if go else None}
    return subprocess.Popen([sys.executable, "-m", "tests.integration.engine.run_proc", json.dumps(args)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _done_chunks(dsn: str, control: str) -> int:
    try:
        return control_rows(dsn, control, "SELECT count(*) FROM {c}.chunks WHERE status = 'DONE'")[0][0]
    except psycopg2.Error:  # the control schema does not exist yet
        return 0


def _wait_for_chunks(dsn: str, control: str, n: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while _done_chunks(dsn, control) < n:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the first attempt never got going"
        time.sleep(0.05)


def _assert_exact_once(source_dsn: str, target_dsn: str, orders: str, control: str) -> None:
    assert fingerprint(target_dsn, orders) == interval_fingerprint(source_dsn, orders, START, END)
    loads = control_rows(target_dsn, control, "SELECT DISTINCT loads FROM {c}.chunks")
    assert loads == [(1,)], f"a chunk was loaded more than once: loads {loads}"
    runs = control_rows(target_dsn, control, "SELECT count(*), min(status), max(status) FROM {c}.runs")
    assert runs == [(1, "DONE", "DONE")], runs


def _source(source_dsn: str, orders: str, n: int = 1500) -> None:
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        make_orders(cur, orders, n)


def test_two_attempts_started_together_one_loads_the_other_names_it(
        spec_data, orders, source_dsn, target_dsn, schemas):
    _source(source_dsn, orders)
    slow_down(target_dsn, orders, ms_per_row=0.2)
    spec = spec_data(chunk_rows=100)
    procs = {name: _attempt(spec, name) for name in ("scheduled__1", "manual__2")}
    results = {name: _result(p) for name, p in procs.items()}
    outcomes = sorted(r["outcome"] for r in results.values())
    assert outcomes == ["done", "overlap"], results
    winner = next(n for n, r in results.items() if r["outcome"] == "done")
    loser = next(r for r in results.values() if r["outcome"] == "overlap")
    assert winner in loser["message"] and "types" not in loser["message"], loser
    _assert_exact_once(source_dsn, target_dsn, orders, schemas["control"])


@pytest.mark.parametrize("mode", ["upsert", "append", "delete_insert"])
def test_a_second_attempt_mid_load_fails_fast_and_touches_nothing(
        spec_data, orders, source_dsn, target_dsn, schemas, mode, tmp_path):
    _source(source_dsn, orders)
    slow_down(target_dsn, orders, ms_per_row=5)  # the first attempt loads for several seconds
    spec = spec_data(chunk_rows=100, mode=mode)
    first = _attempt(spec, "scheduled__1")
    # Ready before the first gets going, released mid-load: a slow interpreter start cannot miss it.
    second_proc = _attempt(spec, "manual__2", go=tmp_path / "go")
    _wait_for_chunks(target_dsn, schemas["control"], 2, first)
    t0 = time.monotonic()
    (tmp_path / "go").touch()
    second = _result(second_proc, timeout=60)
    assert second["outcome"] == "overlap" and "scheduled__1" in second["message"], second
    assert time.monotonic() - t0 < 30, "the second attempt did not fail fast"
    assert _result(first)["outcome"] == "done"
    _assert_exact_once(source_dsn, target_dsn, orders, schemas["control"])


@pytest.mark.parametrize("on_overlap", ["fail", "wait"])
def test_an_attempt_whose_owner_was_killed_is_taken_over_once_its_lease_expires(
        spec_data, orders, source_dsn, target_dsn, schemas, on_overlap, tmp_path):
    _source(source_dsn, orders)
    slow_down(target_dsn, orders, ms_per_row=2)
    lease = 10 if on_overlap == "fail" else 3  # "fail" must meet the lease still live, seconds after the kill
    spec = spec_data(chunk_rows=100, lease_seconds=lease, on_overlap=on_overlap)
    first = _attempt(spec, "scheduled__1")
    # Started (imports done) before the kill, so it begins within the live lease however slow the machine.
    early_proc = _attempt(spec, "manual__2", go=tmp_path / "go") if on_overlap == "fail" else None
    _wait_for_chunks(target_dsn, schemas["control"], 3, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    done_before = _done_chunks(target_dsn, schemas["control"])
    if early_proc is not None:
        (tmp_path / "go").touch()
        early = _result(early_proc, timeout=60)  # the lease is still live
        assert early["outcome"] == "overlap" and "scheduled__1" in early["message"], early
        time.sleep(lease + 0.5)
    late = _result(_attempt(spec, "manual__3"), timeout=120)  # waits, or comes after the lease expired
    assert late["outcome"] == "done" and late["resumed"], late
    _assert_exact_once(source_dsn, target_dsn, orders, schemas["control"])
    owner = control_rows(target_dsn, schemas["control"], "SELECT dag_run_id FROM {c}.runs")
    assert owner == [("manual__3",)]
    assert done_before >= 3


def test_compensation_stops_the_lanes_of_its_attempt(spec_data, make_ctx, orders, source_dsn, target_dsn, schemas):
    """A compensate that starts while a lane still loads: the lane stops, nothing stays behind."""
    from gaussdb_batch.engine.compensate import compensate_run
    from gaussdb_batch.engine.extract import extract

    _source(source_dsn, orders)
    before = fingerprint(target_dsn, orders)
    slow_down(target_dsn, orders, ms_per_row=3)
    spec = spec_data(chunk_rows=100)
    ctx = make_ctx(chunk_rows=100)
    ex = extract(ctx, START, END)  # the adhoc owner, as the lane process below
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{ROOT / 'plugins'}")
    lane = subprocess.Popen([sys.executable, "-m", "tests.integration.engine.lane_proc",
                             json.dumps({"spec": spec, "run_id": ex.run_id, "lane": 0})],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_chunks(target_dsn, schemas["control"], 2, lane)
    compensate_run(ctx, ex.run_id, reason="a sibling lane failed")
    _, err = lane.communicate(timeout=60)
    assert lane.returncode != 0 and "COMPENSAT" in err, err[-2000:]
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"DROP TRIGGER slow_rows ON {orders}")
    assert fingerprint(target_dsn, orders) == before
    status = control_rows(target_dsn, schemas["control"], "SELECT status FROM {c}.runs")
    assert status == [("COMPENSATED",)]
