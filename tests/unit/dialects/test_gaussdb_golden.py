"""Golden SQL of the GaussDB dialect: the exact text we send to GaussDB/openGauss.

These shapes cannot be executed here against a real GaussDB, so their text is pinned: a
change to any of them must be deliberate (update the expected text in the same commit).
The integration suite runs the same dialect against PostgreSQL 15 with a forbidden-construct
guard; this file also checks every shape with that guard.
"""

from __future__ import annotations

import pytest

from gaussdb_batch.dialects import Column, get_dialect
from gaussdb_batch.hooks.observe import forbidden_gaussdb_constructs
from gaussdb_batch.identifiers import IdentifierError, TableRef

COLS = [Column("k", "bigint"), Column("name", "character varying(10)", True), Column("price", "numeric(5,2)")]
KEYS = COLS[:1]
T, L, U = TableRef("dw", "items"), TableRef("gaussdb_batch", "land_7"), TableRef("gaussdb_batch", "undo_dw__items")
STAGED = ('SELECT CAST(s."k" AS bigint) AS "k", s."name" AS "name", CAST(s."price" AS numeric(5,2)) AS "price" '
          'FROM "gaussdb_batch"."land_7" s WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s')


@pytest.fixture
def gauss():
    return get_dialect("gaussdb", distribute_by=["k"])


#: A landed row the target does not hold already, identical: what the upserts write (and journal).
CHANGES_ONLY = (' AND NOT EXISTS (SELECT 1 FROM "dw"."items" x WHERE x."k" = CAST(s."k" AS bigint) AND '
                '(x."name" COLLATE "C" IS NOT DISTINCT FROM s."name" AND x."price" IS NOT DISTINCT FROM '
                'CAST(s."price" AS numeric(5,2))))')


def test_merge_upsert(gauss):
    assert gauss.upsert_sql(T, L, COLS, KEYS) == (
        f'MERGE INTO "dw"."items" t USING ({STAGED}{CHANGES_ONLY}) s ON (t."k" = s."k") '
        'WHEN MATCHED THEN UPDATE SET "name" = s."name", "price" = s."price" '
        'WHEN NOT MATCHED THEN INSERT ("k", "name", "price") VALUES (s."k", s."name", s."price")'
    )


def test_on_duplicate_key_update_option():
    d = get_dialect("gaussdb", upsert_style="on_duplicate_key")
    assert d.upsert_sql(T, L, COLS, KEYS) == (
        f'INSERT INTO "dw"."items" ("k", "name", "price") {STAGED}{CHANGES_ONLY} '
        'ON DUPLICATE KEY UPDATE "name" = EXCLUDED."name", "price" = EXCLUDED."price"'
    )


def test_change_capture_journals_changed_rows_and_new_keys_by_the_upserts_test(gauss):
    assert gauss.capture_changes_sql(U, T, L, COLS, KEYS) == (
        'INSERT INTO "gaussdb_batch"."undo_dw__items" ("_gb_run_id", "_gb_chunk", "_gb_op", "k", "name", "price") '
        "SELECT %(run_id)s, %(chunk_no)s, CASE WHEN t.\"k\" IS NULL THEN 'I' ELSE 'U' END, "
        'COALESCE(t."k", CAST(s."k" AS bigint)), t."name", t."price" FROM "gaussdb_batch"."land_7" s '
        'LEFT JOIN "dw"."items" t ON t."k" = CAST(s."k" AS bigint) WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s '
        'AND (t."k" IS NULL OR NOT (t."name" COLLATE "C" IS NOT DISTINCT FROM s."name" AND t."price" IS NOT '
        'DISTINCT FROM CAST(s."price" AS numeric(5,2)))) AND NOT EXISTS (SELECT 1 FROM "gaussdb_batch"."undo_dw__items" '
        'u WHERE u."_gb_run_id" = %(run_id)s AND u."k" = COALESCE(t."k", CAST(s."k" AS bigint)) OFFSET 0) '
        'RETURNING "_gb_op"'
    )


def test_values_compare_exactly_as_the_check_sees_them(gauss):
    cols = [Column("n", "numeric"), Column("doc", "json"), Column("c", "character(3)", True), Column("f", "real")]
    assert gauss.same_row_expr(cols, "t", "s", from_landing=False) == (
        '(CAST(t."n" AS text) IS NOT DISTINCT FROM CAST(s."n" AS text) AND CAST(t."doc" AS text) IS NOT DISTINCT '
        'FROM CAST(s."doc" AS text) AND t."c" COLLATE "C" IS NOT DISTINCT FROM s."c" AND t."f" IS NOT DISTINCT '
        'FROM s."f")'
    )
    assert gauss.same_row_expr([], "t", "s", from_landing=False) == "TRUE"


def test_distribution_key_is_never_updated():
    d = get_dialect("gaussdb", distribute_by=["region"])
    cols = [Column("k", "bigint"), Column("region", "integer"), Column("v", "text", True)]
    sql = d.merge_sql(T, L, cols, [cols[0], cols[1]])
    assert 'UPDATE SET "v" = s."v" WHEN' in sql and '"region" = s."region" WHEN' not in sql


def test_delete_insert_and_append(gauss):
    delete, insert = gauss.write_sql("delete_insert", T, L, COLS, KEYS)
    assert delete == ('DELETE FROM "dw"."items" t WHERE EXISTS (SELECT 1 FROM "gaussdb_batch"."land_7" s '
                      'WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s AND t."k" = CAST(s."k" AS bigint))')
    assert insert == f'INSERT INTO "dw"."items" ("k", "name", "price") {STAGED}'
    assert gauss.write_sql("append", T, L, COLS, KEYS) == [insert]
    with pytest.raises(ValueError, match="unknown load mode"):
        gauss.write_sql("merge", T, L, COLS, KEYS)


def test_landing_ddl_is_unlogged_text_and_distributed(gauss):
    assert gauss.create_landing_sql(L, COLS) == (
        'CREATE UNLOGGED TABLE "gaussdb_batch"."land_7" ("_gb_seq" bigint NOT NULL, "k" text, "name" text, '
        '"price" text) DISTRIBUTE BY HASH ("k")'
    )
    assert "DISTRIBUTE BY" not in get_dialect("gaussdb").create_landing_sql(L, COLS)  # single node rejects it


def test_copy_statements(gauss):
    assert gauss.copy_in_sql(L, ["_gb_seq", "k"]) == \
        'COPY "gaussdb_batch"."land_7" ("_gb_seq", "k") FROM STDIN WITH (FORMAT csv)'
    assert gauss.copy_out_sql("SELECT 1") == "COPY (SELECT 1) TO STDOUT WITH (FORMAT csv)"


def test_keyset_source_query_with_interval(gauss):
    assert gauss.source_select_sql(COLS, table=TableRef("src", "items"), interval_column="updated_at",
                                   order_by=["k"]) == (
        'SELECT row_number() OVER (ORDER BY q."k"), CAST(q."k" AS text), CAST(q."name" AS text), '
        'CAST(q."price" AS text) FROM (SELECT * FROM "src"."items" WHERE "updated_at" >= %(start)s '
        'AND "updated_at" < %(end)s) q'
    )


def test_fingerprint_hashes_strings_byte_exact_in_every_mode():
    # NULL is a term no value has; the string's bytes are hashed under "C" with a terminator, so
    # neither a collation nor string_hash_compatible (trailing spaces) can make two values equal,
    # and A mode hashes what the target stores (its '' already is NULL): no NULLIF.
    plain = get_dialect("gaussdb").row_hash_expr(COLS[1:2], "t", from_landing=False)
    assert plain == ('hashint8((CASE WHEN t."name" IS NULL THEN -34359738368 ELSE '
                     'hashtext(textcat(CAST(t."name" AS text) COLLATE "C", \'.\')) END) * 3)')
    assert get_dialect("gaussdb", empty_is_null=True).row_hash_expr(COLS[1:2], "t", from_landing=False) == plain


def test_text_landing_fingerprint_casts_every_value_to_the_target_type_first(gauss):
    # 'ab ' landed as text for a char(5) column must hash as the target's 'ab   ' does.
    k, name, price = 'CAST(s."k" AS bigint)', 'CAST(s."name" AS character varying(10))', 'CAST(s."price" AS numeric(5,2))'
    assert gauss.row_hash_expr(COLS, "s", from_landing=True) == (
        f'hashint8((CASE WHEN {k} IS NULL THEN -34359738368 ELSE (2 * CAST(hashint8({k}) AS bigint) + '
        f'hashint4(CAST({k} >> 32 AS integer))) END) * 3 + '
        f'(CASE WHEN {name} IS NULL THEN -34359738368 ELSE '
        f'hashtext(textcat(CAST({name} AS text) COLLATE "C", \'.\')) END) * 5 + '
        f'(CASE WHEN {price} IS NULL THEN -34359738368 ELSE (CAST(hash_numeric({price}) AS bigint) + 4294967296 * '
        f'CASE WHEN {price} < 0 THEN -1 WHEN {price} = \'NaN\' THEN 2 WHEN {price} > 0 THEN 1 ELSE 0 END) END) * 7)'
    )
    assert "AS timestamp)" not in gauss.row_hash_expr([Column("d", "date"), Column("ts", "timestamp(3) without time zone")],
                                                      "s", from_landing=True)
    typed = gauss.for_landing(True)
    assert typed.row_hash_expr(COLS, "s", from_landing=True) == typed.row_hash_expr(COLS, "s", from_landing=False) \
        .replace('t."', 's."')


def test_undo_capture_journals_only_rows_that_exist(gauss):
    assert gauss.capture_undo_sql(U, T, L, COLS, KEYS) == (
        'INSERT INTO "gaussdb_batch"."undo_dw__items" ("_gb_run_id", "_gb_chunk", "_gb_op", "k", "name", "price") '
        'SELECT %(run_id)s, %(chunk_no)s, \'U\', t."k", t."name", t."price" FROM "gaussdb_batch"."land_7" s '
        'JOIN "dw"."items" t ON t."k" = CAST(s."k" AS bigint) WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s '
        'AND NOT EXISTS (SELECT 1 FROM "gaussdb_batch"."undo_dw__items" u WHERE u."_gb_run_id" = %(run_id)s '
        'AND u."k" = t."k" OFFSET 0)'
    )


def test_typed_landing_casts_nothing(gauss):
    typed = gauss.for_landing(True)
    assert typed.create_landing_sql(L, COLS) == (
        'CREATE UNLOGGED TABLE "gaussdb_batch"."land_7" ("_gb_seq" bigint NOT NULL, "k" bigint, '
        '"name" character varying(10), "price" numeric(5,2)) DISTRIBUTE BY HASH ("k")'
    )
    assert typed.source_select_sql(COLS, table=TableRef("src", "items"), interval_column="updated_at",
                                   order_by=["k"]) == (
        'SELECT row_number() OVER (ORDER BY q."k"), q."k", q."name", q."price" FROM (SELECT * FROM "src"."items" '
        'WHERE "updated_at" >= %(start)s AND "updated_at" < %(end)s) q'
    )
    assert typed.merge_sql(T, L, COLS, KEYS) == (
        'MERGE INTO "dw"."items" t USING (SELECT s."k" AS "k", s."name" AS "name", s."price" AS "price" '
        'FROM "gaussdb_batch"."land_7" s WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s AND NOT EXISTS (SELECT 1 '
        'FROM "dw"."items" x WHERE x."k" = s."k" AND (x."name" COLLATE "C" IS NOT DISTINCT FROM s."name" AND '
        'x."price" IS NOT DISTINCT FROM s."price"))) s ON (t."k" = s."k") '
        'WHEN MATCHED THEN UPDATE SET "name" = s."name", "price" = s."price" '
        'WHEN NOT MATCHED THEN INSERT ("k", "name", "price") VALUES (s."k", s."name", s."price")'
    )
    # A reloaded chunk journals only the rows its earlier loads rejected.
    assert typed.capture_undo_sql(U, T, L, COLS, KEYS, reload_schema="gaussdb_batch") == (
        'INSERT INTO "gaussdb_batch"."undo_dw__items" ("_gb_run_id", "_gb_chunk", "_gb_op", "k", "name", "price") '
        'SELECT %(run_id)s, %(chunk_no)s, \'U\', t."k", t."name", t."price" FROM "gaussdb_batch"."land_7" s '
        'JOIN "dw"."items" t ON t."k" = s."k" WHERE s."_gb_seq" BETWEEN %(lo)s AND %(hi)s AND EXISTS '
        '(SELECT 1 FROM "gaussdb_batch".rejects r WHERE r.run_id = %(run_id)s AND r.seq = s."_gb_seq") '
        'AND NOT EXISTS (SELECT 1 FROM "gaussdb_batch"."undo_dw__items" u WHERE u."_gb_run_id" = %(run_id)s '
        'AND u."k" = t."k" OFFSET 0)'
    )


def test_compensation_deletes_landed_keys_without_rejects(gauss):
    assert gauss.for_landing(True).compensate_delete_landed_sql("gaussdb_batch", T, L, KEYS) == (
        'DELETE FROM "dw"."items" t WHERE EXISTS (SELECT 1 FROM "gaussdb_batch"."land_7" s WHERE s."_gb_seq" '
        'BETWEEN %(lo)s AND %(hi)s AND t."k" = s."k" AND NOT EXISTS (SELECT 1 FROM "gaussdb_batch".rejects r '
        'WHERE r.run_id = %(run_id)s AND r.seq = s."_gb_seq"))'
    )


def test_claim_is_one_skip_locked_row(gauss):
    assert gauss.claim_chunk_sql("gaussdb_batch") == (
        'SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM "gaussdb_batch".chunks '
        "WHERE run_id = %(run_id)s AND status = %(pending)s ORDER BY chunk_no LIMIT 1 FOR UPDATE SKIP LOCKED"
    )


def _all_shapes(d):
    schema = "gaussdb_batch"
    yield from (s for _, _, stmts in d.control_migrations(schema) for s in stmts)
    yield d.schema_version_ddl(schema)
    yield d.create_landing_sql(L, COLS)
    yield d.create_undo_sql(U, T)
    yield d.undo_index_sql(U, KEYS)
    yield d.capture_undo_sql(U, T, L, COLS, KEYS)
    yield d.capture_changes_sql(U, T, L, COLS, KEYS)
    yield d.capture_changes_sql(U, T, L, COLS, KEYS, rejected_schema=schema)
    yield d.capture_identical_before_sql(schema, U, T, L, COLS, KEYS)
    yield d.journal_inserted_range_sql(U, L, KEYS)
    yield d.mark_exact_sql(U)
    yield d.chunk_is_exact_sql(U, KEYS)
    yield d.forget_exact_marks_sql(U, KEYS)
    yield d.undo_chunks_sql(U)
    for mode in ("upsert", "append", "delete_insert"):
        yield from d.write_sql(mode, T, L, COLS, KEYS)
    yield d.landing_fingerprints_sql(schema, L, COLS)
    yield d.target_fingerprints_sql(schema, T, L, COLS, KEYS)
    yield d.compensate_delete_sql(T, U, KEYS)
    yield d.compensate_restore_sql(T, U, COLS)
    yield d.duplicate_keys_sql(L, KEYS)
    yield d.table_columns_sql()
    yield d.table_exists_sql()
    yield d.read_state_sql(schema)
    yield d.update_state_sql(schema, ["period_seconds", "backlog"])
    yield d.insert_state_sql(schema, ["period_seconds", "backlog"])
    yield d.last_done_interval_end_sql(schema)
    yield d.full_chunk_seconds_sql(schema)
    yield d.backlog_sql(T, "updated_at")


def test_no_shape_uses_a_construct_gaussdb_rejects(gauss):
    for sql in _all_shapes(gauss):
        assert forbidden_gaussdb_constructs(sql) == [], sql


@pytest.mark.parametrize("bad", ['items"; DROP TABLE x; --', "1items", "it ems", "", "a" * 64, "ta-ble"])
def test_identifiers_from_outside_are_refused(gauss, bad):
    with pytest.raises(IdentifierError):
        gauss.create_landing_sql(L, [Column(bad, "text", True)])


def test_chunk_numbers_are_exact_integer_arithmetic(gauss):
    """No ``/`` between integers (float8 on openGauss): a landed row's chunk offset is integer mod(),
    the chunk number div() on numeric, once per chunk."""
    sql = gauss.landing_fingerprints_sql("gaussdb_batch", L, COLS)
    assert sql.startswith('SELECT %(first)s + CAST(div(q.g, %(size)s) AS bigint), count(*), coalesce(sum(q.h), 0) '
                          'FROM (SELECT (s."_gb_seq" - %(lo)s) - mod((s."_gb_seq" - %(lo)s), %(size)s) AS g, ')
    for shape in _all_shapes(gauss):
        assert " / " not in shape, shape


@pytest.mark.parametrize(
    ("version", "skip_locked"),
    [("3.0.3", False), ("3.1.0", True), ("5.0.3", True), ("7.0.0-RC2", True), ("2.1.0", False),
     ("gaussdb (GaussDB Kernel 505.2.0 build 1)", True), ("unknown", False)],
)
def test_skip_locked_only_from_opengauss_3_1(version, skip_locked):
    from gaussdb_batch.hooks.detect import ServerInfo

    assert ServerInfo("gaussdb", version, "PG").supports_skip_locked is skip_locked
    assert ServerInfo("postgres", "PostgreSQL 15.18", None).supports_skip_locked


def test_claim_without_skip_locked_takes_an_advisory_lock_per_chunk():
    d = get_dialect("gaussdb", skip_locked=False)
    assert d.claim_chunk_by_lock_sql("gaussdb_batch") == (
        'SELECT chunk_no, seq_lo, seq_hi, key_lo, key_hi, clock_timestamp() FROM "gaussdb_batch".chunks '
        "WHERE run_id = %(run_id)s AND chunk_no = %(chunk_no)s AND status = %(pending)s "
        "AND pg_try_advisory_xact_lock(CAST(%(run_id)s AS integer), chunk_no) FOR UPDATE"
    )
    for sql in (d.claim_chunk_by_lock_sql("s"), d.pending_chunks_sql("s")):
        assert forbidden_gaussdb_constructs(sql) == [] and "SKIP LOCKED" not in sql
