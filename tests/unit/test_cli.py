"""``gaussdb-batch validate`` offline: the console script, its messages and its exit status."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

from gaussdb_batch.cli import diff_scope, main, validate
from gaussdb_batch.engine.choices import ReconcileScopeKind

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: {name}
schedule: "0 0 * * *"
source: {{conn_id: src, table: app.items, interval_column: updated_at}}
target: {{conn_id: dst, table: dw.items}}
keys: [item_id]
"""


def _project(tmp_path: Path) -> tuple[Path, Path]:
    batches, dags = tmp_path / "include" / "batches", tmp_path / "dags"
    batches.mkdir(parents=True)
    dags.mkdir()
    for name in ("alpha", "beta"):
        (batches / f"{name}.yaml").write_text(GOOD.format(name=name))
        shutil.copyfile(ROOT / "dags" / "tpch_orders.py", dags / f"{name}.py")
    return batches, dags


def test_the_console_script_reports_each_bad_spec_and_exits_1(tmp_path):
    batches, dags = _project(tmp_path)
    (batches / "beta.yaml").write_text(GOOD.format(name="beta") + "chunk_row: 50\n")
    exe = Path(sys.executable).with_name("gaussdb-batch")
    proc = subprocess.run([str(exe), "validate", str(batches), "--dags", str(dags)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"ok    {batches / 'alpha.yaml'}: batch 'alpha' ok" in proc.stdout
    assert f"error {batches / 'beta.yaml'}:6: batch 'beta': chunk_row: unknown key, did you mean 'chunk_rows'?" \
        in proc.stderr
    assert proc.stdout.strip().endswith("1 ok, 1 error(s)")
    (batches / "beta.yaml").write_text(GOOD.format(name="beta"))
    proc = subprocess.run([str(exe), "validate", str(batches), "--dags", str(dags)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("2 ok, 0 error(s)"), proc.stdout + proc.stderr


def test_a_spec_without_its_dag_file_or_with_a_taken_name_is_an_error(tmp_path):
    batches, dags = _project(tmp_path)
    (dags / "beta.py").unlink()
    (batches / "gamma.yaml").write_text(GOOD.format(name="alpha"))
    errors = validate([batches], dags=dags).errors
    assert any("beta.yaml: no DAG file" in e and "dags_for_file(__file__)" in e for e in errors), errors
    assert any("gamma.yaml: batch name 'alpha' is already used" in e for e in errors), errors
    assert any("gamma.yaml: the file is named 'gamma' but the batch 'alpha'" in e for e in errors), errors


def test_the_shipped_specs_and_dag_files_validate():
    report = validate([ROOT / "include" / "batches"], dags=ROOT / "dags")
    assert report.errors == [] and len(report.ok) >= 2


def test_diff_refuses_bad_input_with_exit_2(tmp_path, capsys):
    batches, _ = _project(tmp_path)
    assert main(["diff", "gamma", "--spec-dir", str(batches)]) == 2
    assert "no batch 'gamma'" in capsys.readouterr().err
    for args in (["--interval", "2024-01-01"], ["--interval", "yesterday..today"], ["--keys", "5.."],
                 ["--interval", "2024-01-01..2024-01-02", "--keys", "1..2"]):
        assert main(["diff", "alpha", "--spec-dir", str(batches), *args]) == 2, args
        assert capsys.readouterr().err.startswith("error --")
    assert main(["diff"]) == 2


def test_diff_scopes_parse_intervals_and_key_ranges():
    scope = diff_scope("2024-01-01..2024-01-02T06:00", None)
    assert (scope.kind, scope.start, scope.end) == (ReconcileScopeKind.INTERVALS, dt.datetime(2024, 1, 1),
                                                   dt.datetime(2024, 1, 2, 6))
    scope = diff_scope(None, "A-1..Z-9")
    assert (scope.kind, scope.key_lo, scope.key_hi) == (ReconcileScopeKind.KEYS, "A-1", "Z-9")
    assert diff_scope(None, None).kind == ReconcileScopeKind.TABLE
