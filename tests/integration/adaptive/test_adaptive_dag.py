"""The adaptive DAG under dag.test(): each call is one run of the @continuous DAG, with its
deferrable sensor's trigger run inline. Periods come from the sensor's XCom (what each poll
waited) and batch_state; exactness from the target against the source."""

from __future__ import annotations

import threading
import time

import pytest

from gaussdb_batch.dag_factory import ADVANCE_TASK_ID, WAIT_TASK_ID

from tests.integration.engine.conftest import control_rows, fingerprint

# One dialect: the DAG wiring is the same for both, and GaussDB's is the stricter SQL subset
# (every statement is checked against what GaussDB rejects). The state SQL runs under both
# dialects in test_adaptive_state.py.
pytestmark = pytest.mark.parametrize("dialect_name", ["gaussdb"])


def run_once(dag) -> dict:
    """One run of the continuous DAG; returns the XComs of the sensor and the watermark task."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    dr = dag.test()
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    assert dr.state == DagRunState.SUCCESS, states
    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == dag.dag_id, XComModel.run_id == dr.run_id, XComModel.key == "return_value",
            XComModel.task_id.in_([WAIT_TASK_ID, ADVANCE_TASK_ID]),
        ).all()
        out = {r.task_id: XComModel.deserialize_value(r) for r in rows}
    return out


def state(target_dsn, control, batch) -> tuple:
    rows = control_rows(target_dsn, control, "SELECT period_seconds, chunk_rows, watermark, backlog "
                        "FROM {c}.batch_state WHERE batch = %s", (batch,))
    return rows[0] if rows else None


def runs(target_dsn, control, batch) -> list[tuple]:
    return control_rows(target_dsn, control, "SELECT interval_start, interval_end, status, rows_loaded "
                        "FROM {c}.runs WHERE batch = %s ORDER BY interval_start", (batch,))


def chunk_sizes(target_dsn, control, batch) -> list[int]:
    """The planned chunk size of each run (its largest chunk), in run order."""
    rows = control_rows(target_dsn, control, "SELECT max(k.rows_in) FROM {c}.runs r JOIN {c}.chunks k USING (run_id) "
                        "WHERE r.batch = %s GROUP BY r.run_id ORDER BY r.run_id", (batch,))
    return [r[0] for r in rows]


def assert_exactly_once(target_dsn, source_dsn, events, control, batch) -> None:
    table = events.table
    assert fingerprint(target_dsn, table) == fingerprint(source_dsn, table)
    done = runs(target_dsn, control, batch)
    assert all(r[2] == "DONE" for r in done)
    # Consecutive intervals tile the watermark column: no gap, no overlap.
    for before, after in zip(done, done[1:]):
        assert after[0] == before[1]
    assert sum(r[3] for r in done) == events.inserted


def test_growing_backlog_shortens_the_wait_and_an_idle_source_lengthens_it(
        adaptive_dag, events, schemas, target_dsn, source_dsn):
    # t_min 0.2, t_max 1.4, step 0.4, threshold 50; full chunks always take longer than the
    # (tiny) target, so the chunk size halves after every run.
    dag = adaptive_dag(chunk_rows=80, chunk_target_seconds="0.000001")
    control, batch = schemas["control"], dag.dag_id

    waits = []
    for n in (100, 200, 300):  # a growing backlog, above the threshold every time
        events.insert(n)
        out = run_once(dag)
        (period, waited, backlog), = out[WAIT_TASK_ID]["polls"]  # rows were there at the first poll
        assert backlog == n
        waits.append((period, waited))
    assert [p for p, _ in waits] == pytest.approx([1.4, 1.0, 0.6])  # shorter by one step per busy poll
    assert waits[0][1] > waits[1][1] > waits[2][1]  # and the trigger really waited less
    assert all(w >= p for p, w in waits)
    assert state(target_dsn, control, batch)[0] == pytest.approx(0.2)  # the period survives the run

    # An idle source: every poll finds nothing and waits one step longer, up to t_max; rows
    # below the threshold then end the wait without shortening it.
    def arrive_when_idle_long_enough():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if state(target_dsn, control, batch)[0] == pytest.approx(1.4):
                events.insert(10)
                return
            time.sleep(0.05)

    feeder = threading.Thread(target=arrive_when_idle_long_enough, daemon=True)
    feeder.start()
    out = run_once(dag)
    feeder.join()
    polls = out[WAIT_TASK_ID]["polls"]
    idle = [p for p in polls if p[2] == 0]
    assert [p[0] for p in idle[:3]] == pytest.approx([0.2, 0.6, 1.0])  # longer by one step per idle poll
    assert idle[0][1] < idle[1][1] < idle[2][1]
    assert all(0.2 <= p[0] <= 1.4 for p in polls)
    assert polls[-1][2] == 10
    assert state(target_dsn, control, batch)[0] == pytest.approx(1.4)  # 10 rows <= threshold: stays long

    # Chunk size: multiplicative decrease 80 -> 40 -> 20 -> 10 (chunk_rows_min), planned per run.
    assert chunk_sizes(target_dsn, control, batch) == [80, 40, 20, 10]
    assert state(target_dsn, control, batch)[1] == 10
    assert_exactly_once(target_dsn, source_dsn, events, control, batch)


def test_rows_inserted_while_the_dag_runs_are_loaded_exactly_once(
        adaptive_dag, events, schemas, target_dsn, source_dsn):
    dag = adaptive_dag(t_min=0.2, t_max=0.6, step=0.2, chunk_rows=20, chunk_target_seconds=60)
    control, batch = schemas["control"], dag.dag_id
    stop = threading.Event()

    def keep_inserting():
        while not stop.is_set():
            events.insert(7)
            time.sleep(0.03)

    events.insert(5)
    writer = threading.Thread(target=keep_inserting, daemon=True)
    writer.start()
    try:
        advanced = [run_once(dag)[ADVANCE_TASK_ID] for _ in range(3)]
    finally:
        stop.set()
        writer.join()
    events.insert(3)  # the last run has rows to wait for
    advanced.append(run_once(dag)[ADVANCE_TASK_ID])

    assert_exactly_once(target_dsn, source_dsn, events, control, batch)
    # Chunks finish far below the 60 s target: additive increase by chunk_rows_step per run that
    # had a full chunk, and each run is planned with the size the previous one left.
    sizes = chunk_sizes(target_dsn, control, batch)
    assert sizes[0] == 20
    for before, after, size in zip(advanced, advanced[1:], sizes[1:]):
        assert after["chunk_rows_before"] == before["chunk_rows"]
        if after["full_chunks"]:  # a run smaller than one chunk shows no planned size
            assert size == after["chunk_rows_before"]
    grown = [a for a in advanced if a["full_chunks"]]
    assert grown and all(a["chunk_rows"] == a["chunk_rows_before"] + 10 for a in grown)
    watermark = state(target_dsn, control, batch)[2]
    assert watermark == runs(target_dsn, control, batch)[-1][1].isoformat()
