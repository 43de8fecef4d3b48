"""Bad spec values are rejected before any SQL runs, with a message naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from gaussdb_batch.engine.spec import SpecError
from gaussdb_batch.engine.spec_parser import load_spec, load_specs, parse_spec

ROOT = Path(__file__).resolve().parents[3]

GOOD = {
    "name": "orders",
    "schedule": "0 0 * * *",
    "source": {"conn_id": "src", "table": "sales.orders", "interval_column": "updated_at"},
    "target": {"conn_id": "dst", "table": "dw.orders"},
    "keys": ["order_id"],
}


def with_(path: str, value):
    data = copy.deepcopy(GOOD)
    node = data
    parts = path.split(".")
    for p in parts[:-1]:
        node = node[p]
    if value is KeyError:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value
    return data


def test_good_spec_parses_with_defaults():
    spec = parse_spec(GOOD)
    assert spec.name == "orders" and spec.keys == ("order_id",)
    assert spec.mode == "upsert" and spec.chunk_rows == 10_000 and spec.lanes == 2
    assert str(spec.source.table) == "sales.orders" and spec.target.table.sql == '"dw"."orders"'
    assert not spec.same_db
    assert "gaussdb-batch" in spec.tags


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (with_("colour", "blue"), "colour: unknown key"),
        (with_("source.tabel", "x"), "source.tabel: unknown key"),
        (with_("target.table", 'dw.orders"; DROP TABLE x; --'), "target.table"),
        (with_("source.table", "a.b.c"), "source.table"),
        (with_("keys", ["order_id", "1bad"]), "keys[1]"),
        (with_("keys", KeyError), "keys: is required"),
        (with_("keys", []), "keys: must be a non-empty list"),
        (with_("chunk_rows", 0), "chunk_rows: must be >= 1"),
        (with_("chunk_rows", "100"), "chunk_rows: must be an integer"),
        (with_("lanes", 0), "lanes: must be >= 1"),
        (with_("mode", "merge"), "mode: must be one of"),
        (with_("schedule", "every day"), "schedule"),
        (with_("name", "orders; drop"), "name"),
        (with_("source.interval_column", KeyError), "source.interval_column: is required"),
        (with_("target.conn_id", KeyError), "target.conn_id: is required"),
        (with_("max_rejects", -1), "max_rejects"),
        (with_("source", {"conn_id": "src", "sql": "SELECT * FROM t"}), "source.sql"),
        (with_("source", {"conn_id": "src", "table": "t", "sql": "SELECT 1"}), "source: needs exactly one"),
        (with_("target.distribute_by", ["region"]), "target.distribute_by"),
        (with_("alerting", {"on_failure": [{"type": "pager", "conn_id": "x"}]}), "alerting"),
        (with_("retry_exponential_backoff", 0.5), "retry_exponential_backoff"),
        (with_("schedule", "@daily; DROP TABLE t"), "schedule: '@daily; DROP TABLE t' is not a preset"),
        (with_("schedule", "@once"), "schedule: '@once' is not a preset with a data interval"),
        (with_("schedule", "@continuous"), "schedule: '@continuous' is not a preset"),
        (with_("timezone", "Mars/Olympus"), "timezone: 'Mars/Olympus' is not a known time zone"),
        (with_("chunk_rows", 1_000_001), "chunk_rows: must be <= 1000000"),
        (with_("lanes", 65), "lanes: must be <= 64"),
        (with_("retention_days", 10**9), "retention_days: must be <= 36500"),
        (with_("lease_seconds", 0), "lease_seconds: must be >= 1"),
        (with_("on_overlap", "queue"), "on_overlap: must be one of fail, wait"),
        (with_("source.tie_break", ["1bad"]), "source.tie_break[0]"),
    ],
)
def test_bad_values_name_the_field(data, field):
    with pytest.raises(SpecError) as err:
        parse_spec(data)
    assert field in str(err.value)
    assert "batch " in str(err.value)


def test_missing_key_column_in_target_is_refused_before_writing(make_ctx_offline=None):
    # Key columns are checked against the target's catalog by BatchContext.columns, which
    # runs before any DDL or data statement (see tests/integration/engine/test_spec_target.py).
    assert parse_spec(with_("keys", ["no_such_column"])).keys == ("no_such_column",)


def test_adaptive_schedule_is_a_mapping():
    spec = parse_spec(with_("schedule", {"type": "adaptive", "t_min": 5, "t_max": 60, "step": 5,
                                         "backlog_threshold": 1000}))
    assert spec.schedule is None and spec.adaptive.t_max == 60
    with pytest.raises(SpecError, match="t_min"):
        parse_spec(with_("schedule", {"type": "adaptive", "t_min": 90, "t_max": 60, "step": 5,
                                      "backlog_threshold": 1}))


def test_shipped_specs_are_valid():
    specs = load_specs(ROOT / "include" / "batches")
    assert {s.name for s in specs} >= {"tpch_orders", "tpch_lineitem"}


def test_yaml_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SpecError, match="bad.yaml"):
        load_spec(bad)


def test_duplicate_batch_names_are_refused(tmp_path):
    import yaml

    for n in ("a", "b"):
        (tmp_path / f"{n}.yaml").write_text(yaml.safe_dump(GOOD))
    with pytest.raises(SpecError, match="unique"):
        load_specs(tmp_path)


@pytest.mark.parametrize("preset", ["@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight"])
def test_interval_presets_are_accepted(preset):
    assert parse_spec(with_("schedule", preset)).schedule == preset


def test_ownership_defaults():
    spec = parse_spec(GOOD)
    assert (spec.on_overlap, spec.lease_seconds, spec.source.tie_break) == ("fail", 600, ())
    assert parse_spec({**GOOD, "on_overlap": "wait", "lease_seconds": 30}).on_overlap == "wait"

HEAD = (
    "name: orders\n"
    "schedule: '0 0 * * *'\n"
    "source: {conn_id: src, table: sales.orders, interval_column: updated_at}\n"
    "target: {conn_id: dst, table: dw.orders}\n"
    "keys: [order_id]\n"
)


def test_a_mistyped_key_names_file_line_and_the_key_meant(tmp_path):
    path = tmp_path / "orders.yaml"
    path.write_text(HEAD + "chunk_row: 50\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}:6: batch 'orders': chunk_row: unknown key")
    assert "chunk_row: unknown key, did you mean 'chunk_rows'? (expected one of:" in str(err.value)
    assert (err.value.line, err.value.field, err.value.hint) == (6, "chunk_row", "chunk_rows")


def test_nested_errors_point_at_the_nested_line(tmp_path):
    path = tmp_path / "orders.yaml"
    path.write_text(
        HEAD.replace("source: {conn_id: src, table: sales.orders, interval_column: updated_at}\n", "source:\n"
                     "  conn_id: src\n  table: sales.orders\n  interval_column: updated_at\n")
        + "checks:\n"
        "  not_null: [o_custkey, '1bad']\n"
        "  ranges:\n"
        "    o_totalprice: {min: 0, maks: 10}\n"
    )
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}:10: batch 'orders': checks.not_null[1]:")
    path.write_text(path.read_text().replace("'1bad'", "o_orderdate"))
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert f"{path}:12:" in str(err.value) and "checks.ranges.o_totalprice.maks" in str(err.value)
    assert "did you mean 'max'?" in str(err.value)


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        ({"not_nul": ["a"]}, "checks.not_nul: unknown key"),
        ({"not_null": "a b"}, "checks.not_null[0]"),
        ({"unique": "a"}, "checks.unique: must be a list"),
        ({"ranges": {"a": {"min": "zero"}}}, "checks.ranges.a.min: must be a number"),
        ({"ranges": {"a": 5}}, "checks.ranges.a: must be a mapping"),
        ({"expectations": [{"kwargs": {"column": "a"}}]}, "checks.expectations[0]"),
        ({"expectations": "expectations/no_such_suite.json"}, "not found"),
    ],
)
def test_checks_are_validated_at_parse_time(checks, field):
    with pytest.raises(SpecError) as err:
        parse_spec({**GOOD, "checks": checks})
    assert field in str(err.value)


def test_checks_and_alerting_become_typed_objects():
    from gaussdb_batch.alerting import AlertingSpec
    from gaussdb_batch.engine.spec import ChecksSpec, RangeCheck

    spec = parse_spec({**GOOD, "checks": {"not_null": ["a"], "unique": [["a", "b"]], "ranges": {"c": {"max": 9}}},
                       "alerting": {"on_failure": [{"type": "slack", "conn_id": "s"}]}})
    assert spec.checks == ChecksSpec(not_null=("a",), unique=(("a", "b"),), ranges=(RangeCheck("c", None, 9.0),))
    assert spec.checks.columns == ("a", "b", "c")
    assert isinstance(spec.alerting, AlertingSpec) and spec.alerting.on_failure[0].conn_id == "s"
    assert parse_spec(GOOD).checks == ChecksSpec() and not parse_spec(GOOD).checks


def test_every_default_comes_from_the_dataclass():
    import dataclasses

    from gaussdb_batch.engine.spec import BatchSpec

    spec = parse_spec(GOOD)
    for f in dataclasses.fields(BatchSpec):
        if f.default is not dataclasses.MISSING and f.name not in GOOD and f.name != "tags":
            assert getattr(spec, f.name) == f.default, f.name


def test_docs_spec_md_documents_every_key():
    import re

    from gaussdb_batch.engine.spec_parser import spec_keys

    text = (ROOT / "docs" / "spec.md").read_text()
    sections = {head.split("\n", 1)[0]: head for head in text.split("\n## ")[1:]}
    documented = {"": sections["Top-level keys"]}
    documented.update({name: body for head, body in sections.items()
                       if (name := head.split("`")[1] if "`" in head else "") in ("source", "target", "schedule",
                                                                                   "checks", "alerting", "reconcile")})
    for section, keys in spec_keys().items():
        rows = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?", documented[section], re.M))
        names = {n for pair in rows for n in pair if n}
        assert keys <= names, f"docs/spec.md, section {section or 'top level'}: missing {sorted(keys - names)}"
    assert "Create the target table first" in text
    assert "docs/spec.md" in (ROOT / "README.md").read_text()


def test_the_choices_are_enums_that_compare_as_the_words_users_write():
    from gaussdb_batch.engine.choices import LoadMode, Overlap, SourceKind

    spec = parse_spec({**GOOD, "mode": "delete_insert", "on_overlap": "wait"})
    assert (type(spec.mode), type(spec.on_overlap), type(spec.source.kind)) == (LoadMode, Overlap, SourceKind)
    assert (spec.mode, spec.on_overlap, spec.source.kind) == ("delete_insert", "wait", "table")
    assert parse_spec(with_("source", {"files": "/data/{start:%Y%m%d}.csv"})).source.kind is SourceKind.FILES
    sql = {"conn_id": "src", "sql": "SELECT * FROM t WHERE u >= %(start)s AND u < %(end)s"}
    assert parse_spec(with_("source", sql)).source.kind is SourceKind.SQL


def test_a_spec_without_alerting_has_an_empty_alerting_spec_not_none():
    from gaussdb_batch.alerting import AlertingSpec

    assert parse_spec(GOOD).alerting == AlertingSpec()


def test_the_expectation_suite_is_parsed_once_and_kept_on_the_spec():
    from gaussdb_batch.engine.suite_spec import SuiteSpec

    inline = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "severity": "warning"}]
    suite = parse_spec({**GOOD, "checks": {"expectations": inline}}).checks.expectations
    assert isinstance(suite, SuiteSpec) and suite.source == "inline"
    assert [(e.type, e.kwargs, e.severity) for e in suite.expectations] == [
        ("expect_column_values_to_not_be_null", {"column": "a"}, "warning")]


RECONCILE = {"schedule": "30 3 * * *", "scope": {"last_intervals": 7}}


def test_reconcile_section_parses_with_defaults():
    from gaussdb_batch.engine.choices import ReconcileScopeKind

    assert parse_spec(GOOD).reconcile is None
    r = parse_spec(with_("reconcile", RECONCILE)).reconcile
    assert r is not None and r.schedule == "30 3 * * *" and r.scope == ReconcileScopeKind.INTERVALS
    assert (r.last_intervals, r.mode, r.leaf_rows, r.parallel) == (7, "report", 2000, 2)
    keys = parse_spec(with_("reconcile", {**RECONCILE, "scope": {"keys": [10, 20]}, "leaf_rows": 50})).reconcile
    assert keys is not None and (keys.scope, keys.key_lo, keys.key_hi, keys.leaf_rows) == ("keys", "10", "20", 50)
    table = parse_spec(with_("reconcile", {**RECONCILE, "scope": "table", "mode": "report"})).reconcile
    assert table is not None and table.scope == ReconcileScopeKind.TABLE and table.last_intervals is None
    repair = parse_spec(with_("reconcile", {**RECONCILE, "mode": "repair", "max_repair_rows": 500})).reconcile
    assert repair is not None and (repair.mode, repair.max_repair_rows) == ("repair", 500)
    assert r.max_repair_rows == 100_000


def test_repair_is_refused_for_append_mode():
    with pytest.raises(SpecError, match="reconcile.mode: 'repair' re-syncs differing records by key, and append"):
        parse_spec({**GOOD, "mode": "append", "reconcile": {**RECONCILE, "mode": "repair"}})
    assert parse_spec({**GOOD, "mode": "append", "reconcile": RECONCILE}).reconcile is not None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("nightly", "reconcile: must be a mapping"),
        ({"scope": "table"}, "reconcile.schedule: is required"),
        ({"schedule": "30 3 * * *"}, "reconcile.scope: is required"),
        ({**RECONCILE, "schedule": "every night"}, "reconcile.schedule: 'every night' is not a valid cron"),
        ({**RECONCILE, "mode": "fix"}, "reconcile.mode: must be one of report, repair"),
        ({**RECONCILE, "mode": "repair", "max_repair_rows": 0}, "reconcile.max_repair_rows: must be >= 1"),
        ({**RECONCILE, "max_repair_rows": 10**9}, "reconcile.max_repair_rows: must be <="),
        ({**RECONCILE, "scope": "everything"}, "reconcile.scope: must be one of"),
        ({**RECONCILE, "scope": {"last_intervals": 0}}, "reconcile.scope.last_intervals: must be >= 1"),
        ({**RECONCILE, "scope": {"keys": [1]}}, "reconcile.scope.keys: must be [lo, hi]"),
        ({**RECONCILE, "scope": {"keys": [9, 1]}}, "reconcile.scope.keys: lo (9) must not exceed hi (1)"),
        ({**RECONCILE, "scope": {"key": [1, 2]}}, "reconcile.scope.key: unknown key, did you mean 'keys'?"),
        ({**RECONCILE, "leaf_rows": 0}, "reconcile.leaf_rows: must be >= 1"),
        ({**RECONCILE, "leaf_rows": 10**9}, "reconcile.leaf_rows: must be <="),
        ({**RECONCILE, "parallel": 3}, "reconcile.parallel: must be <= lanes (2)"),
        ({**RECONCILE, "paralel": 2}, "reconcile.paralel: unknown key, did you mean 'parallel'?"),
    ],
)
def test_reconcile_section_errors_name_the_field(section, message):
    with pytest.raises(SpecError, match="batch 'orders': ") as err:
        parse_spec(with_("reconcile", section))
    assert message in str(err.value)


def test_only_a_table_source_can_be_reconciled():
    sql = {**GOOD, "source": {"conn_id": "src", "sql": "SELECT * FROM t WHERE ts >= %(start)s AND ts < %(end)s"},
           "reconcile": RECONCILE}
    with pytest.raises(SpecError, match="reconcile: compares a source table with the target: a sql source"):
        parse_spec(sql)


def test_last_intervals_needs_the_batch_cron_schedule():
    adaptive = {**GOOD, "schedule": {"type": "adaptive", "t_min": 1, "t_max": 5, "step": 1, "backlog_threshold": 1},
                "reconcile": RECONCILE}
    with pytest.raises(SpecError, match="reconcile.scope.last_intervals: needs the batch's cron schedule"):
        parse_spec(adaptive)


def test_reconcile_errors_name_file_and_line(tmp_path):
    path = tmp_path / "orders.yaml"
    path.write_text("name: orders\nschedule: '0 0 * * *'\nsource: {conn_id: s, table: a.b, interval_column: t}\n"
                    "target: {conn_id: d, table: c.d}\nkeys: [id]\nreconcile:\n  schedule: '@daily'\n"
                    "  scope: table\n  mode: mend\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert err.value.line == 9 and err.value.field == "reconcile.mode" and str(path) in str(err.value)
