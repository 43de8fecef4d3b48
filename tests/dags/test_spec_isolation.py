"""A bad spec is an import error of its own DAG file in real Airflow; every other batch keeps its DAGs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
name: {name}
schedule: "0 0 * * *"
source: {{conn_id: src, table: app.items, interval_column: updated_at}}
target: {{conn_id: dst, table: dw.items_{name}}}
keys: [item_id]
chunk_rows: 50
"""


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A DAGs folder and an include folder as a user has them: three batches, one with a typo."""
    dags, batches = tmp_path / "dags", tmp_path / "include" / "batches"
    dags.mkdir()
    batches.mkdir(parents=True)
    for name in ("alpha", "broken", "gamma"):
        text = GOOD.format(name=name)
        if name == "broken":
            text = text.replace("chunk_rows: 50", "chunk_row: 50")
        (batches / f"{name}.yaml").write_text(text)
        shutil.copyfile(ROOT / "dags" / "tpch_orders.py", dags / f"{name}.py")
    monkeypatch.setenv("GAUSSDB_BATCH_INCLUDE", str(tmp_path / "include"))
    return dags, batches


def test_a_typo_in_one_spec_is_that_files_import_error_only(airflow_db, project):
    from airflow.dag_processing.dagbag import DagBag

    dags, batches = project
    bag = DagBag(dag_folder=str(dags))
    assert set(bag.dag_ids) == {"alpha", "alpha__rollback", "gamma", "gamma__rollback"}
    assert list(bag.import_errors) == [str(dags / "broken.py")]
    error = bag.import_errors[str(dags / "broken.py")]
    assert f"{batches / 'broken.yaml'}:6: batch 'broken': chunk_row: unknown key" in error
    assert "did you mean 'chunk_rows'?" in error


def test_the_dag_processor_records_the_error_and_keeps_the_other_dags(airflow_db, project):
    """What the dag-processor does with a file: parse it in a DagBag, write DAGs and import errors."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.errors import ParseImportError
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    dags, _ = project
    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder")
    sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        errors = {e.filename: e.stacktrace for e in session.query(ParseImportError)
                  .filter(ParseImportError.bundle_name == "dags-folder")}
        stored = {d for (d,) in session.query(SerializedDagModel.dag_id)}
    assert "broken.py" in errors and "did you mean 'chunk_rows'?" in errors["broken.py"]
    assert {"alpha", "gamma"} <= stored and "broken" not in stored


def test_the_downstream_dag_keeps_the_assets_of_the_good_specs(airflow_db, project, monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_CONN_DST", "postgres://etl:pw@db.example:5432/dw")
    folder = tmp_path / "downstream"
    folder.mkdir()
    shutil.copyfile(ROOT / "dags" / "gaussdb_downstream.py", folder / "gaussdb_downstream.py")
    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag("gaussdb_batch_downstream")
    uris = {a.uri for a in dag.timetable.asset_condition.objects}
    assert uris == {f"postgres://db.example:5432/dw/dw/items_{n}" for n in ("alpha", "gamma")}
