"""The reconciliation's repair on real servers: the differing records re-synced as a run, and undone.

Late rows in the source, source deletes, target edits (a sign flip, NULL vs 0, a trailing space, a
timestamp off by an hour) and a row only the target has are planted; a reconciliation finds them and
the repair run (extract_repair, then the engine's own lanes, check and finalize) re-syncs them:
delete_insert leaves the target equal to the source, upsert leaves only the rows the source does not
have (reported, never deleted). Compensation then puts the target back exactly as it was before the
repair. Runs in the postgres dialect and the gaussdb dialect under the openGauss semantics mode.
"""

from __future__ import annotations

import psycopg2
import pytest

from gaussdb_batch.engine.check import check_run
from gaussdb_batch.engine.choices import DiffKind
from gaussdb_batch.engine.compensate import compensate_run, finalize_run
from gaussdb_batch.engine.control import get_run
from gaussdb_batch.engine.errors import PermanentBatchError
from gaussdb_batch.engine.load import run_lane
from gaussdb_batch.engine.reconciliation import latest_reconciliation, reconcile
from gaussdb_batch.engine.repair import extract_repair
from gaussdb_batch.engine.state import RunStatus
from tests.integration.engine.conftest import fingerprint
from tests.integration.engine.test_reconciliation import DELETED, EXPECTED, SCOPES, TARGET_ONLY, _fill, _plant

REPAIR = {"schedule": "0 3 * * *", "scope": "table", "mode": "repair"}


def _repair(ctx, recon_id: int) -> int:
    ex = extract_repair(ctx, recon_id)
    for lane in range(ctx.spec.lanes):
        run_lane(ctx, ex.run_id, lane)
    result = check_run(ctx, ex.run_id)
    assert not result.mismatched_first_pass, result
    finalize_run(ctx, ex.run_id)
    return ex.run_id


@pytest.mark.parametrize("mode", ["delete_insert", "upsert"])
def test_repair_resyncs_each_difference_and_compensation_undoes_it(
        mode, make_ctx, orders, source_dsn, target_dsn, dialect_name):
    _fill(orders, source_dsn, target_dsn)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx(mode=mode, reconcile=REPAIR)
    before = fingerprint(target_dsn, orders)
    found = reconcile(ctx, SCOPES["table"], leaf_rows=100)
    assert found.differences == {k: len(v) for k, v in EXPECTED.items()}

    run_id = _repair(ctx, found.recon_id)

    run = get_run(ctx, run_id)
    assert run is not None and run.repair_of == found.recon_id and run.status == RunStatus.DONE
    # the changed and missing records were written; the interval of the data is not the repair's
    assert run.rows_loaded == len(EXPECTED[DiffKind.MISSING]) + len(EXPECTED[DiffKind.CHANGED])
    latest = latest_reconciliation(ctx)
    assert latest is not None and (latest["recon_id"], latest["repair_run_id"]) == (found.recon_id, run_id)
    again = reconcile(ctx, SCOPES["table"], leaf_rows=100)
    if mode == "delete_insert":
        # delete_insert owns what it loads: the rows the source does not have are gone too
        assert again.equal, again.differences
        assert fingerprint(target_dsn, orders) == fingerprint(source_dsn, orders)
    else:
        # upsert never deletes: the rows only the target has are still reported, and only they
        assert {r.key["o_orderkey"] for r in again.records} == {DELETED, TARGET_ONLY}
        assert again.differences[DiffKind.EXTRA] == 2 and not again.differences[DiffKind.CHANGED]

    compensate_run(ctx, run_id, reason="test: undo the repair", manual=True)
    assert get_run(ctx, run_id).status == RunStatus.COMPENSATED
    assert fingerprint(target_dsn, orders) == before
    assert reconcile(ctx, SCOPES["table"], leaf_rows=100).differences == found.differences


def test_a_retried_repair_resumes_its_attempt_and_never_blocks_an_interval(
        make_ctx, orders, source_dsn, target_dsn, dialect_name):
    _fill(orders, source_dsn, target_dsn, n=300)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx(mode="delete_insert", reconcile=REPAIR)
    found = reconcile(ctx, SCOPES["table"], leaf_rows=50)
    first = extract_repair(ctx, found.recon_id)
    again = extract_repair(ctx, found.recon_id)
    assert (again.run_id, again.resumed, again.attempt) == (first.run_id, True, first.attempt)
    for lane in range(ctx.spec.lanes):
        run_lane(ctx, first.run_id, lane)
    assert not check_run(ctx, first.run_id).mismatched_first_pass
    finalize_run(ctx, first.run_id)
    assert reconcile(ctx, SCOPES["table"], leaf_rows=50).equal
    # a data interval's run of the same days is a run of its own, not the repair resumed
    from gaussdb_batch.engine.extract import extract
    import datetime as dt

    ex = extract(ctx, dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 4, tzinfo=dt.timezone.utc))
    assert ex.run_id != first.run_id and not ex.resumed


def test_keys_with_quotes_percent_and_backslashes_travel_as_literals(
        make_ctx, schemas, source_dsn, target_dsn, dialect_name):
    table = f'"{schemas["data"]}".notes'
    keys = ["plain", "it's", "50%", "100%% sure", "back\\slash", "%(start)s", "  lead", "trail  "]
    for dsn in (source_dsn, target_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (k varchar(40) PRIMARY KEY, v integer, day date NOT NULL)")
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s, DATE '2024-01-02')", [(k, 1) for k in keys])
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"UPDATE {table} SET v = 2")
        cur.execute(f"INSERT INTO {table} VALUES ('only here', 1, DATE '2024-01-02')")
    ctx = make_ctx(mode="delete_insert", keys=["k"], reconcile=REPAIR,
                   source={"table": f"{schemas['data']}.notes", "interval_column": "day"},
                   target={"table": f"{schemas['data']}.notes", "interval_column": "day"})
    found = reconcile(ctx, SCOPES["table"], leaf_rows=4)
    assert found.differences[DiffKind.CHANGED] == len(keys) and found.differences[DiffKind.EXTRA] == 1
    _repair(ctx, found.recon_id)
    assert fingerprint(target_dsn, table) == fingerprint(source_dsn, table)


def test_what_cannot_be_repaired_is_refused_with_a_reason(make_ctx, orders, source_dsn, target_dsn, dialect_name):
    _fill(orders, source_dsn, target_dsn, n=200)
    equal = reconcile(make_ctx(reconcile=REPAIR), SCOPES["table"], leaf_rows=50)
    with pytest.raises(PermanentBatchError, match=f"reconciliation {equal.recon_id} ended MATCH: only a finished"):
        extract_repair(make_ctx(reconcile=REPAIR), equal.recon_id)
    with pytest.raises(PermanentBatchError, match="there is no reconciliation 987654"):
        extract_repair(make_ctx(reconcile=REPAIR), 987654)
    _plant(orders, source_dsn, target_dsn)
    found = reconcile(make_ctx(reconcile=REPAIR), SCOPES["table"], leaf_rows=50)
    small = make_ctx(reconcile={**REPAIR, "max_repair_rows": 3})
    with pytest.raises(PermanentBatchError, match="more than reconcile.max_repair_rows=3 differing keys"):
        extract_repair(small, found.recon_id)
    with pytest.raises(PermanentBatchError, match="repair needs reconcile.mode: repair"):
        extract_repair(make_ctx(reconcile={**REPAIR, "mode": "report"}), found.recon_id)
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:  # its records purged by retention
        cur.execute(f"DELETE FROM {small.schema}.reconciliation_diffs WHERE recon_id = %s", (found.recon_id,))
    with pytest.raises(PermanentBatchError, match="has no differing records left"):
        extract_repair(make_ctx(reconcile=REPAIR), found.recon_id)


@pytest.mark.parametrize("key_ddl,keys,rows", [
    ("k bytea PRIMARY KEY", ["k"], [(b"\x00\x01", ), (b"'%\\", ), (b"\xff" * 9, )]),
    ("d date, s varchar(20), PRIMARY KEY (d, s)", ["d", "s"],
     [("2024-01-02", "a"), ("2024-01-02", "b'c"), ("2024-01-03", "a")]),
], ids=["bytea", "date+text"])
def test_keys_of_other_types_are_repaired(key_ddl, keys, rows, make_ctx, schemas, source_dsn, target_dsn,
                                          dialect_name):
    table = f'"{schemas["data"]}".keyed'
    cols = ", ".join(keys)
    for dsn in (source_dsn, target_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} ({key_ddl}, v integer, day date NOT NULL DEFAULT DATE '2024-01-02')")
            marks = ", ".join(["%s"] * len(keys))
            cur.executemany(f"INSERT INTO {table} ({cols}, v) VALUES ({marks}, 1)",
                            [(*(psycopg2.Binary(v) if isinstance(v, bytes) else v for v in r),) for r in rows])
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"UPDATE {table} SET v = v + 1")
    ctx = make_ctx(mode="upsert", keys=keys, reconcile=REPAIR,
                   source={"table": f"{schemas['data']}.keyed", "interval_column": "day"},
                   target={"table": f"{schemas['data']}.keyed", "interval_column": "day"})
    found = reconcile(ctx, SCOPES["table"], leaf_rows=2)
    assert found.differences[DiffKind.CHANGED] == len(rows)
    _repair(ctx, found.recon_id)
    assert fingerprint(target_dsn, table) == fingerprint(source_dsn, table)
