"""Facts of a real target the GaussDB dialect builds on, read from PostgreSQL 15's catalog: the
columns of every unique index (ON DUPLICATE KEY UPDATE must leave them out of SET), and the
storage and cluster probes of detection (neither is set on PostgreSQL, so nothing changes here).
ODKU itself cannot run on PostgreSQL; tests/unit/dialects/test_gaussdb_servers.py pins its text."""

from __future__ import annotations

import psycopg2
import pytest

from gaussdb_batch.hooks.gaussdb import GaussDBHook


@pytest.mark.parametrize("conn_extra", [{"upsert_style": "on_duplicate_key"}])
@pytest.mark.parametrize("dialect_name", ["gaussdb"])
def test_odku_reads_a_second_unique_index_and_leaves_its_columns_out_of_set(make_ctx, orders, target_dsn):
    with psycopg2.connect(target_dsn) as c, c.cursor() as cur:
        cur.execute(f"CREATE UNIQUE INDEX orders_cust_date ON {orders} (o_custkey, o_orderdate)")
    ctx = make_ctx().prepare()
    d = ctx.dialect
    assert sorted(d.unique_columns) == ["o_custkey", "o_orderdate", "o_orderkey"]
    sql = d.upsert_sql(ctx.target, ctx.landing(1), ctx.columns, ctx.key_columns)
    set_list = sql.split(" ON DUPLICATE KEY UPDATE ", 1)[1]
    assert set_list == ('"o_status" = EXCLUDED."o_status", "o_totalprice" = EXCLUDED."o_totalprice", '
                        '"o_comment" = EXCLUDED."o_comment"')


@pytest.mark.parametrize("dialect_name", ["gaussdb"])
def test_merge_reads_no_index(make_ctx, orders):
    ctx = make_ctx().prepare()
    assert ctx.dialect.unique_columns == [] and ctx.dialect.caps.upsert_style == "merge"


def test_detection_on_postgresql_finds_no_ustore_default_and_no_data_nodes(conns):
    hook = GaussDBHook(gaussdb_conn_id=conns["target"])
    try:
        info = hook.server_info
        assert (info.family, info.default_ustore, info.distributed, info.product) == ("postgres", False, False,
                                                                                      "postgres")
        assert hook.dialect.caps.astore is False and hook.dialect.caps.distributed is False
    finally:
        hook.close()
