"""The scheduled reconciliation (report mode) on real servers: planted differences are found exactly.

Late rows in the source, source deletes, target edits (a sign flip, NULL vs 0, a trailing space, a
timestamp off by an hour) and a row on each side only: each is reported with its kind, nothing else,
for the whole table, an interval scope and a key scope; equal tables report nothing and move few bytes.
Runs in the postgres dialect and the gaussdb dialect under the openGauss semantics mode.
"""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from gaussdb_batch.engine.choices import DiffKind, Match, ReconcileScopeKind
from gaussdb_batch.engine.reconciliation import (
    FANOUT,
    ReconcileScope,
    ReconcileScopeError,
    latest_reconciliation,
    reconcile,
    reconciliation_records,
)
from tests.integration.engine.conftest import make_orders

N = 3000
LATE = [100001, 100002, 100003]
SOURCE_ONLY, TARGET_ONLY, DELETED = 200000, 999999, 500
SIGN, NULL_ZERO, SPACE, HOUR = 11, 13, 14, 17


def _sql(dsn: str, *statements: str) -> None:
    with psycopg2.connect(dsn) as c, c.cursor() as cur:
        for s in statements:
            cur.execute(s)


def _fill(orders: str, source_dsn: str, target_dsn: str, n: int = N) -> None:
    for dsn in (source_dsn, target_dsn):
        with psycopg2.connect(dsn) as c, c.cursor() as cur:
            cur.execute(f"ALTER TABLE {orders} ADD COLUMN o_ts timestamp without time zone")
            make_orders(cur, orders, n)
            cur.execute(f"UPDATE {orders} SET o_ts = o_orderdate + o_orderkey * interval '1 second',"
                        f" o_totalprice = CASE WHEN o_orderkey = {NULL_ZERO} THEN NULL ELSE o_totalprice END")


def _plant(orders: str, source_dsn: str, target_dsn: str) -> None:
    row = "({k}, 1, 'O', 10.00, DATE '2024-01-02', 'planted', TIMESTAMP '2024-01-02 10:00:00')"
    _sql(source_dsn,
         f"INSERT INTO {orders} VALUES {', '.join(row.format(k=k) for k in [*LATE, SOURCE_ONLY])}",
         f"DELETE FROM {orders} WHERE o_orderkey = {DELETED}")
    _sql(target_dsn,
         f"INSERT INTO {orders} VALUES {row.format(k=TARGET_ONLY)}",
         f"UPDATE {orders} SET o_totalprice = -o_totalprice WHERE o_orderkey = {SIGN}",
         f"UPDATE {orders} SET o_totalprice = 0 WHERE o_orderkey = {NULL_ZERO}",
         f"UPDATE {orders} SET o_comment = concat(o_comment, ' ') WHERE o_orderkey = {SPACE}",
         f"UPDATE {orders} SET o_ts = o_ts + interval '1 hour' WHERE o_orderkey = {HOUR}")


EXPECTED = {
    DiffKind.MISSING: {*LATE, SOURCE_ONLY},
    DiffKind.EXTRA: {DELETED, TARGET_ONLY},
    DiffKind.CHANGED: {SIGN, NULL_ZERO, SPACE, HOUR},
}


def _found(result) -> dict:
    out: dict = {k: set() for k in DiffKind}
    for r in result.records:
        out[r.kind].add(r.key["o_orderkey"])
    return out


SCOPES = {
    "table": ReconcileScope(ReconcileScopeKind.TABLE),
    "intervals": ReconcileScope(ReconcileScopeKind.INTERVALS, dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 4)),
    "keys": ReconcileScope(ReconcileScopeKind.KEYS, key_lo="1", key_hi="1000000"),
}


@pytest.mark.parametrize("scope", list(SCOPES), ids=list(SCOPES))
def test_planted_differences_are_found_exactly(scope, make_ctx, orders, source_dsn, target_dsn, dialect_name):
    _fill(orders, source_dsn, target_dsn)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx()
    result = reconcile(ctx, SCOPES[scope], leaf_rows=100, parallel=2)
    assert _found(result) == EXPECTED
    assert result.differences == {k: len(v) for k, v in EXPECTED.items()}
    assert (result.source_rows, result.target_rows) == (N + 4 - 1, N + 1)
    assert result.ranges_compared > 1
    changed = [r for r in result.records if r.kind == DiffKind.CHANGED]
    assert all(r.source_digest and r.target_digest and r.source_digest != r.target_digest for r in changed)
    latest = latest_reconciliation(ctx)
    assert latest is not None and latest["recon_id"] == result.recon_id
    assert latest["status"] == Match.MISMATCH and latest["differences"][DiffKind.CHANGED] == 4
    stored = reconciliation_records(ctx, result.recon_id, limit=100)
    assert {(r["kind"], r["key"]["o_orderkey"]) for r in stored} == {
        (k, key) for k, keys in EXPECTED.items() for key in keys}
    assert len(reconciliation_records(ctx, result.recon_id, offset=8, limit=50)) == 2


def test_narrower_scopes_report_only_their_rows(make_ctx, orders, source_dsn, target_dsn, dialect_name):
    _fill(orders, source_dsn, target_dsn)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx()
    keys = reconcile(ctx, ReconcileScope(ReconcileScopeKind.KEYS, key_lo="12", key_hi="600"), leaf_rows=50)
    assert _found(keys) == {DiffKind.MISSING: set(), DiffKind.EXTRA: {DELETED},
                            DiffKind.CHANGED: {NULL_ZERO, SPACE, HOUR}}
    # make_orders puts key k on day (k - 1) mod 3 (0: Jan 1); the planted rows are on Jan 2.
    day2 = reconcile(ctx, ReconcileScope(ReconcileScopeKind.INTERVALS, dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3)),
                     leaf_rows=50)
    on_day2 = {k: {key for key in keys if key > N or (key - 1) % 3 == 1} for k, keys in EXPECTED.items()}
    assert _found(day2) == on_day2 and on_day2[DiffKind.CHANGED] == {SIGN, SPACE, HOUR}


def test_keep_bounds_the_records_returned_not_those_stored(make_ctx, orders, source_dsn, target_dsn, dialect_name):
    _fill(orders, source_dsn, target_dsn, n=500)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx()
    result = reconcile(ctx, SCOPES["table"], leaf_rows=40, parallel=1, keep=3)
    assert len(result.records) == 3 and sum(result.differences.values()) == 10
    assert len(reconciliation_records(ctx, result.recon_id, limit=100)) == 10


def test_equal_tables_report_nothing_and_move_few_bytes(make_ctx, orders, source_dsn, target_dsn, dialect_name):
    n = 20_000
    _fill(orders, source_dsn, target_dsn, n=n)
    ctx = make_ctx()
    result = reconcile(ctx, SCOPES["table"], leaf_rows=500)
    assert result.differences == {k: 0 for k in DiffKind} and result.records == []
    assert (result.source_rows, result.target_rows, result.ranges_compared) == (n, n, 1)
    with psycopg2.connect(source_dsn) as c, c.cursor() as cur:
        cur.execute(f"SELECT sum(octet_length(t::text)) FROM {orders} t")
        size = int(cur.fetchone()[0])
    # one read per side: the figures of the first level's sub-ranges (about a leaf each, or FANOUT when the
    # planner has no estimate), under 80 bytes a sub-range and side
    top = max(FANOUT, -(-n // 500))
    assert result.bytes_fetched <= 2 * top * 80 and result.bytes_fetched * 200 < size, (result.bytes_fetched, size)
    latest = latest_reconciliation(ctx)
    assert latest is not None and latest["status"] == Match.MATCH and latest["bytes_fetched"] == result.bytes_fetched
    # one changed row: the traffic is the ranges on its path and one leaf, not the table
    _sql(target_dsn, f"UPDATE {orders} SET o_comment = 'edited' WHERE o_orderkey = 12345")
    one = reconcile(ctx, SCOPES["table"], leaf_rows=500)
    assert _found(one)[DiffKind.CHANGED] == {12345} and sum(one.differences.values()) == 1
    assert one.bytes_fetched * 20 < size, (one.bytes_fetched, size)


def test_a_source_table_of_other_types_is_digested_as_the_target_stores_it(make_ctx, orders, source_dsn, target_dsn,
                                                                          dialect_name):
    _fill(orders, source_dsn, target_dsn, n=300)
    # the source keeps prices with more scale and keys as text: cast to the target's types, they are equal
    _sql(source_dsn, f"ALTER TABLE {orders} ALTER COLUMN o_totalprice TYPE numeric(20,4)",
         f"ALTER TABLE {orders} ALTER COLUMN o_custkey TYPE text")
    result = reconcile(make_ctx(), SCOPES["table"], leaf_rows=50)
    assert result.differences == {k: 0 for k in DiffKind}


def test_bad_scopes_are_refused(make_ctx, orders):
    ctx = make_ctx()
    with pytest.raises(ReconcileScopeError):
        reconcile(ctx, ReconcileScope(ReconcileScopeKind.INTERVALS, dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 1)))
    with pytest.raises(ReconcileScopeError):
        reconcile(ctx, ReconcileScope(ReconcileScopeKind.KEYS, key_lo="1"))


def test_the_diff_command_prints_the_summary_and_exits_0_or_1(spec_data, orders, source_dsn, target_dsn, tmp_path,
                                                              monkeypatch, capsys, dialect_name):
    import yaml

    from gaussdb_batch import cli

    monkeypatch.setattr(cli, "resolve_connections_like_tasks", lambda: None)  # the test's env connections
    (tmp_path / "orders_sync.yaml").write_text(yaml.safe_dump(spec_data()))
    _fill(orders, source_dsn, target_dsn, n=300)
    assert cli.main(["diff", "orders_sync", "--spec-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "rows: source 300, target 300; ranges compared 1" in out
    assert "differences: missing_in_target 0, extra_in_target 0, changed 0" in out and "bytes moved" in out
    _plant(orders, source_dsn, target_dsn)
    assert cli.main(["diff", "orders_sync", "--spec-dir", str(tmp_path), "--keys", "1..20", "--show", "2"]) == 1
    out = capsys.readouterr().out
    assert "differences: missing_in_target 0, extra_in_target 0, changed 4" in out
    assert '  changed           {"o_orderkey": 11} source ' in out and "... 2 more" in out
    assert cli.main(["diff", "orders_sync", "--spec-dir", str(tmp_path),
                     "--interval", "2024-01-02..2024-01-03"]) == 1
    assert "missing_in_target 4, extra_in_target 1, changed 3" in capsys.readouterr().out  # key 500 is past 300
    assert cli.main(["diff", "orders_sync", "--spec-dir", str(tmp_path), "--keys", "abc..def"]) == 2
    assert "the server refused a bound (22P02)" in capsys.readouterr().err


def test_reconciliations_past_retention_are_purged_with_their_records(make_ctx, orders, schemas, source_dsn,
                                                                      target_dsn, dialect_name):
    from gaussdb_batch.engine.compensate import purge_expired
    from tests.integration.engine.conftest import control_rows

    _fill(orders, source_dsn, target_dsn, n=200)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx(retention_days=3)
    old = reconcile(ctx, SCOPES["table"]).recon_id
    _sql(target_dsn, f'UPDATE "{schemas["control"]}".reconciliations SET started_at = now() - interval \'4 days\''
                     f" WHERE recon_id = {old}")
    new = reconcile(ctx, SCOPES["table"]).recon_id  # purges the old one first
    count = "SELECT count(*) FROM {c}.reconciliation_diffs WHERE recon_id = %s"
    assert control_rows(target_dsn, schemas["control"], count, (old,)) == [(0,)]
    assert control_rows(target_dsn, schemas["control"], count, (new,)) == [(9,)]
    purge_expired(ctx, dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5))  # the finalize's purge
    assert control_rows(target_dsn, schemas["control"], count, (new,)) == [(0,)]
    assert latest_reconciliation(ctx) is None


def test_a_composite_string_key_is_split_by_its_keys_and_found_exactly(make_ctx, schemas, source_dsn, target_dsn,
                                                                       dialect_name):
    t = f'"{schemas["data"]}".items'
    for dsn in (source_dsn, target_dsn):
        _sql(dsn, f"CREATE TABLE {t} (region varchar(10), id integer, v double precision, at timestamptz,"
                  " PRIMARY KEY (region, id))",
             f"INSERT INTO {t} SELECT chr(65 + k % 20), k, k / 7.0, TIMESTAMPTZ '2024-01-01 00:00:00+00'"
             " + k * interval '1 minute' FROM generate_series(1, 2000) k")
    _sql(source_dsn, f"INSERT INTO {t} VALUES ('a', 1, 1, now())")  # lower-case sorts after 'T' in "C"
    _sql(target_dsn, f"INSERT INTO {t} VALUES ('', 5, 1, now())", f"DELETE FROM {t} WHERE id = 1000",
         f"UPDATE {t} SET v = -v WHERE id = 77", f"UPDATE {t} SET at = at + interval '1 hour' WHERE id = 1999")
    ctx = make_ctx(source={"table": f"{schemas['data']}.items", "interval_column": "at"},
                   target={"table": f"{schemas['data']}.items"}, keys=["region", "id"])
    for scope in (SCOPES["table"], ReconcileScope(ReconcileScopeKind.KEYS, key_lo="", key_hi="zz")):
        result = reconcile(ctx, scope, leaf_rows=40, parallel=2)
        found = {(r.kind, r.key["region"], r.key["id"]) for r in result.records}
        assert found == {(DiffKind.MISSING, "a", 1), (DiffKind.MISSING, "A", 1000), (DiffKind.EXTRA, "", 5),
                         (DiffKind.CHANGED, "R", 77), (DiffKind.CHANGED, "T", 1999)}, scope
        # the scope (read whole when the planner has no estimate), then each differing range once
        assert 1 <= result.ranges_compared <= 2 + 2 * 5, result.ranges_compared


def test_a_source_key_repeated_past_a_leaf_ends_in_a_leaf(make_ctx, schemas, source_dsn, target_dsn, dialect_name):
    """No unique key on the source: a range of one repeated key cannot split; it is compared as a leaf,
    its copies as multisets (each surplus copy is missing in the target)."""
    t = f'"{schemas["data"]}".dup'
    for dsn in (source_dsn, target_dsn):
        _sql(dsn, f"CREATE TABLE {t} (code text, v integer)")
    _sql(source_dsn, f"INSERT INTO {t} SELECT 'k', 1 FROM generate_series(1, 60)")
    _sql(target_dsn, f"INSERT INTO {t} VALUES ('k', 1)")
    ctx = make_ctx(source={"table": f"{schemas['data']}.dup", "interval_column": "v"},
                   target={"table": f"{schemas['data']}.dup"}, keys=["code"])
    result = reconcile(ctx, SCOPES["table"], leaf_rows=10)
    assert (result.source_rows, result.target_rows) == (60, 1)
    assert result.differences == {DiffKind.MISSING: 59, DiffKind.EXTRA: 0, DiffKind.CHANGED: 0}


def test_worker_sessions_are_bounded_by_parallel_not_by_ranges(make_ctx, orders, source_dsn, target_dsn,
                                                               dialect_name):
    _fill(orders, source_dsn, target_dsn, n=3000)
    _plant(orders, source_dsn, target_dsn)
    ctx = make_ctx()
    made: list[str] = []
    factory = ctx._hook_factory

    def counting(conn_id: str):
        made.append(conn_id)
        return factory(conn_id)

    ctx._hook_factory = counting
    result = reconcile(ctx, SCOPES["table"], leaf_rows=20, parallel=3)
    assert sum(result.differences.values()) == 10
    assert len(made) <= 2 + 3 * 2, made  # the context's two, and a source and a target per worker thread


# -- one read of a differing range per side ----------------------------------------------------------


def _count_reads(monkeypatch) -> dict[str, int]:
    """Statements the walk runs, by purpose (digests of sub-ranges, split keys, leaves, ...)."""
    from gaussdb_batch.engine import reconciliation

    reads: dict[str, int] = {}
    fetch = reconciliation._Walker._fetch

    def counting(self, source, sql, params, purpose):
        reads[purpose] = reads.get(purpose, 0) + 1
        return fetch(self, source, sql, params, purpose)

    monkeypatch.setattr(reconciliation._Walker, "_fetch", counting)
    return reads


@pytest.mark.parametrize("analyzed", [False, True], ids=["no-estimate", "analyzed"])
def test_each_differing_range_is_read_once_per_side_not_once_per_sub_range(
        make_ctx, orders, source_dsn, target_dsn, dialect_name, monkeypatch, analyzed):
    n, leaf = 20_000, 2000
    _fill(orders, source_dsn, target_dsn, n=n)
    planted = list(range(37, n, n // 25))[:25]  # 25 scattered changes, and a target row below every key
    _sql(target_dsn, *[f"UPDATE {orders} SET o_comment = 'edited' WHERE o_orderkey = {k}" for k in planted],
         f"INSERT INTO {orders} (o_orderkey, o_custkey, o_orderdate) VALUES (-5, 1, DATE '2024-01-02')")
    if analyzed:
        for dsn in (source_dsn, target_dsn):
            c = psycopg2.connect(dsn)
            c.autocommit = True
            with c.cursor() as cur:
                cur.execute(f"ANALYZE {orders}")
            c.close()
    reads = _count_reads(monkeypatch)
    result = reconcile(make_ctx(), SCOPES["table"], leaf_rows=leaf, parallel=2)
    assert _found(result) == {DiffKind.MISSING: set(), DiffKind.EXTRA: {-5}, DiffKind.CHANGED: set(planted)}
    d = len(planted) + 1
    # the old walk digested every sub-range of a differing range on its own (16 statements a side each,
    # 1,873 ranges for 100 differences at scale 0.1); now one statement a side per range read: the scope,
    # then each differing range once (a cut below the top leaves ranges of about half a leaf: a second cut
    # of the same difference is rare, allowed here once)
    digests = reads["digest a key range's sub-ranges"]
    assert digests == 2 * result.ranges_compared and result.ranges_compared <= 1 + 2 * d, reads
    assert reads["read a leaf's keys and row digests"] <= 2 * d, reads  # each leaf holds a difference
    # the traffic: the sub-ranges' figures (under 80 bytes each a side) and d leaves of at most leaf / 16
    # rows (under 60 bytes a row), not the table
    top, cut = max(FANOUT, n // leaf), 2 * n // FANOUT // (leaf // FANOUT)
    bound = 2 * 80 * (top + 2 * d * cut) + 2 * d * (leaf // FANOUT) * 60
    assert result.bytes_fetched < bound, (result.bytes_fetched, bound)


def test_a_composite_integer_key_is_cut_on_its_first_column_then_by_split_keys(make_ctx, schemas, source_dsn,
                                                                               target_dsn, dialect_name, monkeypatch):
    """lineitem's shape: (order, line). Ranges are cut arithmetically on the first column (bounds on it
    alone); a range of one first value holding more than a leaf is cut by split keys of both columns."""
    t = f'"{schemas["data"]}".lines'
    for dsn in (source_dsn, target_dsn):
        _sql(dsn, f"CREATE TABLE {t} (ok bigint, ln integer, v text, PRIMARY KEY (ok, ln))",
             f"INSERT INTO {t} SELECT 1000 + 8 * (k / 70), k % 70, md5(CAST(k AS text))"
             " FROM generate_series(0, 6999) k")
    _sql(source_dsn, f"INSERT INTO {t} VALUES (2000000, 1, 'late')", f"DELETE FROM {t} WHERE ok = 1008 AND ln = 69")
    _sql(target_dsn, f"INSERT INTO {t} VALUES (-7, 0, 'x')", f"UPDATE {t} SET v = 'edited' WHERE ok = 1400 AND ln = 35",
         f"UPDATE {t} SET v = NULL WHERE ok = 1792 AND ln = 0", f"INSERT INTO {t} VALUES (1400, 70, 'y')")
    ctx = make_ctx(source={"table": f"{schemas['data']}.lines", "interval_column": "ln"},
                   target={"table": f"{schemas['data']}.lines"}, keys=["ok", "ln"])
    reads = _count_reads(monkeypatch)
    result = reconcile(ctx, SCOPES["table"], leaf_rows=20, parallel=2)
    found = {(r.kind, r.key["ok"], r.key["ln"]) for r in result.records}
    assert found == {(DiffKind.MISSING, 2000000, 1), (DiffKind.EXTRA, 1008, 69), (DiffKind.EXTRA, -7, 0),
                     (DiffKind.CHANGED, 1400, 35), (DiffKind.CHANGED, 1792, 0), (DiffKind.EXTRA, 1400, 70)}
    assert reads.get("read a range's split keys", 0) >= 1, reads  # 70 rows of one order: cut by both columns
    assert result.ranges_compared <= 3 + 3 * 6, reads


# -- the bucket SQL on each dialect's server ---------------------------------------------------------


def _session(dsn: str, dialect_name: str, search_path: list[str]):
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    cur = conn.cursor()
    if dialect_name == "gaussdb":  # openGauss semantics: int / int is float8 there
        cur.execute(f"SET search_path = {', '.join(search_path)}")
    return conn, cur


@pytest.mark.parametrize("lo,hi,n", [(0, 99, 7), (1, 1, 1), (-50, 49, 16), (5, 12, 8), (1, 6_000_000, 1024),
                                     (-2**62, 2**62, 3)])
def test_the_arithmetic_bucket_is_the_walks_cut(target_dsn, dialect_name, opengauss_semantics, lo, hi, n):
    """Bucket b of a key k (an integer, any side of [lo, hi]) is the b of the cut's edges
    lo + ceil(b * span / n) the walk bounds its sub-ranges with: the last edge at or below k."""
    from gaussdb_batch.dialects import Column, get_dialect

    d = get_dialect(dialect_name)
    key = Column("k", "bigint", False)
    span = hi - lo + 1
    edges = [lo + (b * span + n - 1) // n for b in range(1, n)]
    probes = sorted({lo - 3, lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, hi + 1000, *edges, *(e - 1 for e in edges),
                     *(lo + span * i // 10 for i in range(10))})
    conn, cur = _session(target_dsn, dialect_name, opengauss_semantics)
    try:
        for k in probes:
            cur.execute(f"SELECT {d.recon_bucket_arith([key], 's')} FROM (SELECT CAST(%(k)s AS bigint) AS k) s",
                        {"k": k, "b_lo": lo, "b_span": span, "b_n": n})
            assert cur.fetchone()[0] == sum(1 for e in edges if e <= k), (k, edges)
    finally:
        conn.close()


def test_the_case_bucket_counts_the_split_points_at_or_below_a_key(target_dsn, dialect_name, opengauss_semantics):
    """Composite keys, strings ordered byte-wise ("C"): the nested CASE is a binary search of the points."""
    from gaussdb_batch.dialects import Column, get_dialect

    d = get_dialect(dialect_name)
    keys = [Column("r", "varchar(10)", True), Column("i", "integer", False)]
    points = [("A", 5), ("A", 9), ("B", 0), ("Z", 3), ("a", 1), ("a", 2), ("b", 100)]
    rows = [(r, i) for r in ("", "A", "AA", "B", "Z", "a", "b", "c") for i in (-1, 0, 1, 2, 3, 5, 9, 100, 101)]
    params = {f"p_{i}_{j}": v for i, pt in enumerate(points) for j, v in enumerate(pt)}
    for m in range(len(points) + 1):  # every count of points, 0 (a constant bucket) to all
        sql = d.recon_bucket_case(keys, "s", m)
        conn, cur = _session(target_dsn, dialect_name, opengauss_semantics)
        try:
            for r, i in rows:
                cur.execute(f'SELECT {sql} FROM (SELECT CAST(%(r)s AS varchar(10)) AS "r", %(i)s AS "i") s',
                            {**params, "r": r, "i": i})
                assert cur.fetchone()[0] == sum(1 for p in points[:m] if p <= (r, i)), (m, r, i)
        finally:
            conn.close()


def test_a_ranges_bucket_figures_are_its_sub_ranges_own(schemas, target_dsn, dialect_name, opengauss_semantics):
    """One read of a range (recon_bucket_digest_sql, grouped through generate_series) gives each sub-range
    the count, sums and first-key bounds a read of that sub-range alone gives; empty ones are left out."""
    from gaussdb_batch.dialects import Column, get_dialect
    from gaussdb_batch.identifiers import TableRef

    d = get_dialect(dialect_name)
    table = TableRef(schemas["data"], "b")
    _sql(target_dsn, f"CREATE TABLE {table.sql} (ok bigint, ln integer, v text, PRIMARY KEY (ok, ln))",
         f"INSERT INTO {table.sql} SELECT 10 * (k / 3) + 5, k % 3, md5(CAST(k AS text)) FROM generate_series(0, 899) k"
         " WHERE k / 3 NOT BETWEEN 100 AND 160")
    cols = [Column("ok", "bigint", False), Column("ln", "integer", False), Column("v", "text", True)]
    keys = cols[:2]
    lo, hi, n = 5, 2995, 9
    span = hi - lo + 1
    edges = [None, *[(lo + (b * span + n - 1) // n,) for b in range(1, n)], None]

    def where(a, b):
        return d.recon_where(keys, "s", (), interval_column=None, key_bounds=False, lo=len(a or ()), hi=len(b or ()))

    def bound_params(a, b):
        return {**{f"lo_{i}": v for i, v in enumerate(a or ())}, **{f"hi_{i}": v for i, v in enumerate(b or ())}}

    conn, cur = _session(target_dsn, dialect_name, opengauss_semantics)
    try:
        cur.execute(d.recon_bucket_digest_sql(table, cols, keys, where(None, None), d.recon_bucket_arith(keys, "s"),
                                              n, first_key_bounds=True), {"b_lo": lo, "b_span": span, "b_n": n})
        together = {r[0]: tuple(r[1:]) for r in cur.fetchall()}
        alone = {}
        for b in range(n):
            cur.execute(d.recon_bucket_digest_sql(table, cols, keys, where(edges[b], edges[b + 1]), "0", 1,
                                                  first_key_bounds=True), bound_params(edges[b], edges[b + 1]))
            row = cur.fetchone()
            if row[1]:
                alone[b] = tuple(row[1:])
        assert together == alone and len(alone) < n  # rows 300..480 left a sub-range empty
        assert sum(v[0] for v in together.values()) == 900 - 61 * 3
    finally:
        conn.close()
