"""What the GaussDB dialect emits for the servers detection can find: ustore by default,
distributed clusters, ON DUPLICATE KEY UPDATE beside a second unique index, kernel versions.

The shapes cannot run here (PostgreSQL has neither storage_type nor DISTRIBUTE BY nor ODKU), so
their text is pinned; the same statements without these options run in the integration suite.
"""

from __future__ import annotations

import pytest

from gaussdb_batch.dialects import Column, get_dialect
from gaussdb_batch.engine.rejects import reject_reason
from gaussdb_batch.engine.context import distribution_columns
from gaussdb_batch.hooks.detect import ServerInfo, UnsupportedDialectError, parse_release, refuse_dialect
from gaussdb_batch.identifiers import TableRef

COLS = [Column("k", "bigint"), Column("code", "character varying(10)", True), Column("v", "text", True)]
KEYS = COLS[:1]
T, L, U = TableRef("dw", "items"), TableRef("gaussdb_batch", "land_7"), TableRef("gaussdb_batch", "undo_dw__items")


def _creates(d):
    for _, _, statements in d.control_migrations("gaussdb_batch"):
        yield from (s for s in statements if s.startswith("CREATE TABLE"))
    yield d.schema_version_ddl("gaussdb_batch")


def test_ustore_servers_get_astore_control_landing_and_journal_tables():
    d = get_dialect("gaussdb", astore=True)
    creates = list(_creates(d))
    assert len(creates) == 9 and all(s.endswith(" WITH (storage_type = astore)") for s in creates)
    assert d.create_landing_sql(L, COLS).endswith(' "v" text) WITH (storage_type = astore)')
    assert d.create_undo_sql(U, T).startswith(
        'CREATE TABLE "gaussdb_batch"."undo_dw__items" WITH (storage_type = astore) AS SELECT ')
    # astore is the default elsewhere: nothing is added (PostgreSQL has no storage_type at all).
    plain = get_dialect("gaussdb")
    assert not any("storage_type" in s for s in _creates(plain))
    assert "storage_type" not in plain.create_landing_sql(L, COLS) + plain.create_undo_sql(U, T)
    assert not any("storage_type" in s for s in _creates(get_dialect("postgres")))


def test_distributed_clusters_replicate_control_tables_and_hash_landings_by_the_target_key():
    d = get_dialect("gaussdb", distributed=True, distribute_by=["k"])
    assert all(s.endswith(" DISTRIBUTE BY REPLICATION") for s in _creates(d))
    assert d.create_landing_sql(L, COLS).endswith(' "v" text) DISTRIBUTE BY HASH ("k")')
    # A unique index of a distributed table must contain its distribution key.
    assert d.landing_index_sql(L) == 'CREATE UNIQUE INDEX "land_7_seq" ON "gaussdb_batch"."land_7" ("k", "_gb_seq")'
    assert d.create_undo_sql(U, T).startswith(
        'CREATE TABLE "gaussdb_batch"."undo_dw__items" DISTRIBUTE BY HASH ("k") AS SELECT ')
    both = get_dialect("gaussdb", distributed=True, astore=True)
    assert all(s.endswith(" WITH (storage_type = astore) DISTRIBUTE BY REPLICATION") for s in _creates(both))
    single = get_dialect("gaussdb")
    assert single.landing_index_sql(L) == 'CREATE UNIQUE INDEX "land_7_seq" ON "gaussdb_batch"."land_7" ("_gb_seq")'


def test_on_duplicate_key_update_leaves_every_unique_index_column_out_of_set():
    d = get_dialect("gaussdb", upsert_style="on_duplicate_key").for_target([], ["code", "k"])
    sql = d.upsert_sql(T, L, COLS, KEYS)
    assert sql.endswith(' ON DUPLICATE KEY UPDATE "v" = EXCLUDED."v"')
    only_keys = get_dialect("gaussdb", upsert_style="on_duplicate_key").for_target([], ["k", "code", "v"])
    assert only_keys.upsert_sql(T, L, COLS, KEYS).endswith(" ON DUPLICATE KEY UPDATE NOTHING")
    # MERGE may update a unique column (its ON names the keys only); it reads no index.
    merge = get_dialect("gaussdb")
    assert not merge.needs_unique_columns and d.needs_unique_columns
    assert '"code" = s."code"' in merge.upsert_sql(T, L, COLS, KEYS)


@pytest.mark.parametrize(("text", "parsed"), [
    ("5.0.1", ("opengauss", (5, 0, 1))),
    ("7.0.0-RC2", ("opengauss", (7, 0, 0))),
    ("(openGauss 3.0.3 build 0cd9ae9e) compiled at 2022-09-29", ("opengauss", (3, 0, 3))),
    ("gaussdb (GaussDB Kernel 505.2.0 build 2e4fe2a3) compiled at 2024-10-12", ("gaussdb", (505, 2, 0))),
    ("gaussdb (GaussDB Kernel V500R002C10 build ...)", ("gaussdb", (500,))),
    ("PostgreSQL 9.2.4 gsql ((GaussDB 8.2.0 build 9b8f8ed8) compiled at 2022-05-05)", ("dws", (8, 2, 0))),
    ("something else", None),
])
def test_versions_of_each_product(text, parsed):
    assert parse_release(text) == parsed


@pytest.mark.parametrize(("version", "product", "base", "skip_locked"), [
    ("3.0.3", "opengauss", (3, 0, 3), False),
    ("3.1.0", "opengauss", (3, 1, 0), True),
    ("gaussdb (GaussDB Kernel 503.1.0 build x)", "gaussdb", (3, 1, 0), True),
    ("gaussdb (GaussDB Kernel 505.2.0 build x)", "gaussdb", (5, 0, 0), True),
    ("gaussdb (GaussDB Kernel 502.0.0 build x)", "gaussdb", None, False),
    ("PostgreSQL 9.2.4 gsql ((GaussDB 8.2.0 build x)", "dws", None, False),
])
def test_kernel_lines_map_to_the_opengauss_release_they_build_on(version, product, base, skip_locked):
    info = ServerInfo("gaussdb", version, "PG")
    assert (info.product, info.opengauss_base, info.supports_skip_locked) == (product, base, skip_locked)


def test_a_mode_labels_the_not_null_rejects_it_causes():
    """In A mode the landed row already holds NULL where the source had '': the label cannot wait for a ''."""
    msg = 'null value in column "name" violates not-null constraint'
    strings = ["name", "code"]
    landed = {"k": "1", "name": None}  # what a text landing holds in A mode for a source ''
    labelled = reject_reason(msg, "23502", empty_is_null=True, values=landed, string_columns=strings)
    assert labelled.startswith(msg) and "possibly A mode" in labelled and "sql_compatibility A" in labelled
    pg15 = 'null value in column "name" of relation "items" violates not-null constraint'
    assert "possibly A mode" in reject_reason(pg15, "23502", empty_is_null=True, values=None, string_columns=strings)
    # no column in the message: a NULL or '' string value of the row, or unknown values
    assert "possibly A mode" in reject_reason("violates not-null", "23502", empty_is_null=True,
                                              values={"k": "1", "name": ""}, string_columns=strings)
    assert "possibly A mode" in reject_reason("violates not-null", "23502", empty_is_null=True, values=None)
    # a non-string column, another mode, another error: the server's message as it is
    other = 'null value in column "k" violates not-null constraint'
    assert reject_reason(other, "23502", empty_is_null=True, values={"k": None}, string_columns=strings) == other
    assert reject_reason("violates not-null", "23502", empty_is_null=True, values={"k": None, "name": "x"},
                         string_columns=strings) == "violates not-null"
    assert reject_reason(msg, "23502", empty_is_null=False, values=landed, string_columns=strings) == msg
    assert reject_reason("value too long", "22001", empty_is_null=True, values={"name": ""}) == "value too long"


@pytest.mark.parametrize(("version", "probed", "expected"), [
    ("gaussdb (GaussDB Kernel 502.0.0 build x)", True, True),  # the release table would say no
    ("3.0.3", True, True),
    ("6.0.0", False, False),  # a grammar without the clause: 42601 at detection
    ("6.0.0", None, True),  # not probed: the release decides
])
def test_the_skip_locked_probe_decides_over_the_release_table(version, probed, expected):
    assert ServerInfo("gaussdb", version, "PG", skip_locked=probed).supports_skip_locked is expected


def test_the_postgres_dialect_is_refused_on_gaussdb_servers():
    gauss = ServerInfo("gaussdb", "6.0.0", "B")
    with pytest.raises(UnsupportedDialectError, match=r"dialect='postgres'.*\*= operator.*dialect='gaussdb'"):
        refuse_dialect("postgres", gauss, "gb_target")
    refuse_dialect("gaussdb", gauss)
    refuse_dialect(None, gauss)
    refuse_dialect("postgres", ServerInfo("postgres", "PostgreSQL 15.8", None))


def test_the_distribution_key_comes_from_pgxc_class_in_its_order():
    numbers = {1: "k", 2: "code", 3: "v"}
    assert distribution_columns("3 1", "H", numbers) == ["v", "k"]
    assert distribution_columns("", "R", numbers) == []  # replicated: no hash key
    assert distribution_columns("1", "N", numbers) == []
    sql = get_dialect("gaussdb", distributed=True).distribution_key_sql()
    assert "pgxc_class" in sql and "pcattnum" in sql and "%(schema)s" in sql and "%(table)s" in sql
