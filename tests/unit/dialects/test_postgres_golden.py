"""Golden SQL of the PostgreSQL dialect: what differs from GaussDB, and the shapes both share.

The integration suite runs these statements on PostgreSQL 15; pinning their text here makes
a change to any of them deliberate (update the expected text in the same commit), and shows
at a glance where the two dialects part: the upsert (ON CONFLICT instead of MERGE) and the
chunk's jit setting.
"""

from __future__ import annotations

import pytest

from gaussdb_batch.dialects import Column, PostgresDialect, get_dialect
from gaussdb_batch.identifiers import TableRef

COLS = [Column("k", "bigint"), Column("name", "character varying(10)", True), Column("price", "numeric(5,2)")]
KEYS = COLS[:1]
T, L, U = TableRef("dw", "items"), TableRef("gaussdb_batch", "land_7"), TableRef("gaussdb_batch", "undo_dw__items")
STAGED = ('SELECT CAST(s."k" AS bigint) AS "k", s."name" AS "name", CAST(s."price" AS numeric(5,2)) AS "price" '
          'FROM "gaussdb_batch"."land_7" s WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s')
PLAN_PINS = ("SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),"
             " set_config('enable_seqscan', 'off', true), set_config('enable_material', 'off', true)")


@pytest.fixture
def pg():
    d = get_dialect("postgres")
    assert isinstance(d, PostgresDialect)
    return d


def test_upsert_is_on_conflict_on_the_keys(pg):
    assert pg.upsert_sql(T, L, COLS, KEYS) == (
        f'INSERT INTO "dw"."items" AS _gb_t ("k", "name", "price") {STAGED} '
        'ON CONFLICT ("k") DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price"'
        ' WHERE NOT record_image_eq(ROW(_gb_t."name", _gb_t."price"), ROW(EXCLUDED."name", EXCLUDED."price"))'
    )
    assert pg.write_sql("upsert", T, L, COLS, KEYS) == [pg.upsert_sql(T, L, COLS, KEYS)]


def test_change_capture_compares_byte_images_as_the_upsert_does(pg):
    assert pg.capture_changes_sql(U, T, L, COLS, KEYS) == (
        'INSERT INTO "gaussdb_batch"."undo_dw__items" ("_gb_run_id", "_gb_chunk", "_gb_op", "k", "name", "price") '
        "SELECT %(run_id)s, %(chunk_no)s, CASE WHEN t.\"k\" IS NULL THEN 'I' ELSE 'U' END, "
        'COALESCE(t."k", CAST(s."k" AS bigint)), t."name", t."price" FROM "gaussdb_batch"."land_7" s '
        'LEFT JOIN "dw"."items" t ON t."k" = CAST(s."k" AS bigint) WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s '
        'AND (t."k" IS NULL OR NOT record_image_eq(ROW(t."name", t."price"), ROW(CAST(s."name" AS character '
        'varying(10)), CAST(s."price" AS numeric(5,2))))) AND NOT EXISTS (SELECT 1 FROM '
        '"gaussdb_batch"."undo_dw__items" u WHERE u."_gb_run_id" = %(run_id)s AND u."k" = COALESCE(t."k", '
        'CAST(s."k" AS bigint)) OFFSET 0) RETURNING "_gb_op"'
    )


def test_upsert_of_a_table_that_is_all_key_does_nothing_on_conflict(pg):
    assert pg.upsert_sql(T, L, KEYS, KEYS) == (
        'INSERT INTO "dw"."items" AS _gb_t ("k") SELECT CAST(s."k" AS bigint) AS "k" FROM "gaussdb_batch"."land_7" s '
        'WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s ON CONFLICT ("k") DO NOTHING'
    )


def test_chunk_plans_are_pinned_and_jit_is_off(pg):
    assert pg.chunk_plan_settings_sql() == PLAN_PINS + ", set_config('jit', 'off', true)"
    assert get_dialect("gaussdb").chunk_plan_settings_sql() == PLAN_PINS  # GaussDB has no jit setting
    # A chunk that is a large share of its target leaves the planner free (jit stays off).
    assert pg.chunk_plan_settings_sql(pinned=False) == PLAN_PINS.replace("'off'", "'on'") + \
        ", set_config('jit', 'off', true)"


def test_the_landing_side_is_stored_at_plan_time_per_chunk(pg):
    typed = pg.for_landing(True)
    # Hashed per row before grouping, in a read-only SELECT the server may run in parallel ...
    assert typed.landing_fingerprints_sql("gaussdb_batch", L, COLS) == (
        'SELECT %(first)s + CAST(div(q.g, %(size)s) AS bigint), count(*), coalesce(sum(q.h), 0) FROM (SELECT '
        '(s."_gb_seq" - %(lo)s) - mod((s."_gb_seq" - %(lo)s), %(size)s) AS g, '
        f'{typed.row_hash_expr(COLS, "s", from_landing=False)} AS h '
        'FROM "gaussdb_batch"."land_7" s WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s AND NOT EXISTS (SELECT 1 '
        'FROM "gaussdb_batch".rejects r WHERE r.run_id = %(run_id)s AND r.seq = s."_gb_seq") OFFSET 0) q GROUP BY q.g'
    )
    # ... whose figures go onto the chunk rows, many chunks a statement.
    assert typed.store_landing_fingerprints_sql("gaussdb_batch", 2) == (
        'UPDATE "gaussdb_batch".chunks c SET land_rows = f.n, land_hash = f.h FROM (VALUES '
        '(%(c0)s, %(n0)s, %(h0)s), (%(c1)s, %(n1)s, %(h1)s)) AS f (chunk_no, n, h) '
        'WHERE c.run_id = %(run_id)s AND c.chunk_no = f.chunk_no'
    )


def test_landing_is_never_distributed(pg):
    d = get_dialect("postgres", distribute_by=["k"])
    assert d.create_landing_sql(L, COLS) == pg.create_landing_sql(L, COLS) == (
        'CREATE UNLOGGED TABLE "gaussdb_batch"."land_7" ("_gb_seq" bigint NOT NULL, "k" text, "name" text, '
        '"price" text)'
    )


def test_undo_capture_probes_the_journal_per_row(pg):
    assert pg.capture_undo_sql(U, T, L, COLS, KEYS) == (
        'INSERT INTO "gaussdb_batch"."undo_dw__items" ("_gb_run_id", "_gb_chunk", "_gb_op", "k", "name", "price") '
        'SELECT %(run_id)s, %(chunk_no)s, \'U\', t."k", t."name", t."price" FROM "gaussdb_batch"."land_7" s '
        'JOIN "dw"."items" t ON t."k" = CAST(s."k" AS bigint) WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s '
        'AND NOT EXISTS (SELECT 1 FROM "gaussdb_batch"."undo_dw__items" u WHERE u."_gb_run_id" = %(run_id)s '
        'AND u."k" = t."k" OFFSET 0)'
    )


def test_typed_upsert_casts_nothing(pg):
    assert pg.for_landing(True).upsert_sql(T, L, COLS, KEYS) == (
        'INSERT INTO "dw"."items" AS _gb_t ("k", "name", "price") SELECT s."k" AS "k", s."name" AS "name", '
        's."price" AS "price" FROM "gaussdb_batch"."land_7" s WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s '
        'ON CONFLICT ("k") DO UPDATE SET "name" = EXCLUDED."name", "price" = EXCLUDED."price"'
        ' WHERE NOT record_image_eq(ROW(_gb_t."name", _gb_t."price"), ROW(EXCLUDED."name", EXCLUDED."price"))'
    )


def test_purge_capture_journals_vanished_rows_once(pg):
    assert pg.capture_purge_sql(U, T, L, COLS, KEYS, "updated_at") == (
        'INSERT INTO "gaussdb_batch"."undo_dw__items" ("_gb_run_id", "_gb_chunk", "_gb_op", "k", "name", "price") '
        'SELECT %(run_id)s, %(chunk_no)s, \'U\', t."k", t."name", t."price" FROM "dw"."items" t '
        'WHERE t."updated_at" >= %(start)s AND t."updated_at" < %(end)s AND NOT EXISTS (SELECT 1 FROM '
        '"gaussdb_batch"."land_7" s WHERE t."k" = CAST(s."k" AS bigint)) AND NOT EXISTS (SELECT 1 FROM '
        '"gaussdb_batch"."undo_dw__items" u WHERE u."_gb_run_id" = %(run_id)s AND u."k" = t."k" OFFSET 0)'
    )


def test_compensation_deletes_then_restores_before_images(pg):
    assert pg.compensate_delete_sql(T, U, KEYS) == (
        'DELETE FROM "dw"."items" t WHERE EXISTS (SELECT 1 FROM "gaussdb_batch"."undo_dw__items" u '
        'WHERE u."_gb_run_id" = %(run_id)s AND u."_gb_chunk" = %(chunk_no)s AND u."k" = t."k")'
    )
    assert pg.compensate_restore_sql(T, U, COLS) == (
        'INSERT INTO "dw"."items" ("k", "name", "price") SELECT u."k", u."name", u."price" '
        'FROM "gaussdb_batch"."undo_dw__items" u WHERE u."_gb_run_id" = %(run_id)s AND u."_gb_chunk" = %(chunk_no)s '
        'AND u."_gb_op" = \'U\''
    )


def test_claim_is_one_skip_locked_row(pg):
    assert pg.claim_chunk_sql("gaussdb_batch") == (
        'SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM "gaussdb_batch".chunks '
        "WHERE run_id = %(run_id)s AND status = %(pending)s ORDER BY chunk_no LIMIT 1 FOR UPDATE SKIP LOCKED"
    )


def test_state_write_is_update_then_insert_where_not_exists(pg):
    fields = ["period_seconds", "watermark"]
    assert pg.update_state_sql("gb", fields) == (
        'UPDATE "gb".batch_state SET "period_seconds" = %(period_seconds)s, "watermark" = %(watermark)s,'
        " updated_at = now() WHERE batch = %(batch)s"
    )
    assert pg.insert_state_sql("gb", fields) == (
        'INSERT INTO "gb".batch_state (batch, "period_seconds", "watermark") SELECT %(batch)s, %(period_seconds)s,'
        ' %(watermark)s WHERE NOT EXISTS (SELECT 1 FROM "gb".batch_state WHERE batch = %(batch)s)'
    )
    with pytest.raises(ValueError, match="batch_state fields"):
        pg.update_state_sql("gb", ["status"])


def test_backlog_counts_due_rows_past_the_watermark(pg):
    assert pg.backlog_sql(TableRef("app", "events"), "created_at") == (
        'SELECT count(*), now() FROM "app"."events" WHERE "created_at" >= %(watermark)s AND "created_at" < now()'
    )


def _shared_shapes(d):
    schema = "gaussdb_batch"
    yield from (s for _, _, stmts in d.control_migrations(schema) for s in stmts)
    yield d.schema_version_ddl(schema)
    yield d.schema_version_sql(schema)
    yield d.record_schema_version_sql(schema)
    yield d.create_undo_sql(U, T)
    yield d.undo_index_sql(U, KEYS)
    yield d.capture_undo_sql(U, T, L, COLS, KEYS)
    yield d.for_landing(True).capture_undo_sql(U, T, L, COLS, KEYS, reload_schema=schema)
    yield d.journal_landed_keys_sql(schema, U, L, KEYS)
    yield d.journal_inserted_range_sql(U, L, KEYS)
    yield d.mark_exact_sql(U)
    yield d.chunk_is_exact_sql(U, KEYS)
    yield d.forget_exact_marks_sql(U, KEYS)
    yield d.undo_chunks_sql(U)
    yield d.compensate_delete_landed_sql(schema, T, L, KEYS)
    yield d.loaded_chunks_sql(schema)
    yield d.for_landing(True).create_landing_sql(L, COLS)
    yield d.for_landing(True).store_landing_fingerprints_sql(schema, 3)
    yield d.for_landing(True).landing_fingerprints_sql(schema, L, COLS)
    yield d.stored_fingerprints_sql(schema)
    yield d.for_landing(True).rejected_fingerprints_sql(schema, L, COLS)
    yield d.target_size_sql()
    yield d.capture_purge_sql(U, T, L, COLS, KEYS, "updated_at")
    for mode in ("append", "delete_insert"):
        yield from d.write_sql(mode, T, L, COLS, KEYS)
    yield d.landing_fingerprints_sql(schema, L, COLS)
    yield d.target_fingerprints_sql(schema, T, L, COLS, KEYS)
    yield d.compensate_delete_sql(T, U, KEYS)
    yield d.compensate_restore_sql(T, U, COLS)
    yield d.duplicate_keys_sql(L, KEYS)
    yield d.claim_chunk_sql(schema)
    yield d.finish_chunk_sql(schema)
    yield d.read_state_sql(schema)
    yield d.update_state_sql(schema, ["chunk_rows"])
    yield d.insert_state_sql(schema, ["chunk_rows"])
    yield d.last_done_interval_end_sql(schema)
    yield d.full_chunk_seconds_sql(schema)
    yield d.backlog_sql(T, "updated_at")
    yield d.table_columns_sql()
    yield d.table_exists_sql()


def test_every_shape_but_the_upsert_and_plan_settings_is_the_gaussdb_text(pg):
    gauss = get_dialect("gaussdb")
    assert list(_shared_shapes(pg)) == list(_shared_shapes(gauss))
    assert pg.upsert_sql(T, L, COLS, KEYS) != gauss.upsert_sql(T, L, COLS, KEYS)
