"""Run one batch DAG with dag.test() in a fresh process (clean metrics and Airflow state).

dag.test() in Airflow 3.3 only runs DAGs it finds in a DAG bundle, so the DAG is written as
a real DAG file into the folder given (which must be AIRFLOW__CORE__DAGS_FOLDER), then run.

Usage: python -m tests.integration.dags.dag_test_proc '<json: {"spec": {...}, "taskgroup": bool,
"interval": [start, end], "dags_folder": path}>'. Prints one JSON line: run and task states.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

DAG_FILE = '''"""Airflow DAG under test: a batch spec, built by the factory{kind}."""
import json
from pathlib import Path

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

from gaussdb_batch.dag_factory import batch_task_group, build_dag, default_args
from gaussdb_batch.engine.spec import parse_spec

spec = parse_spec(json.loads((Path(__file__).parent / "spec.json").read_text()))
if {taskgroup}:
    with DAG(dag_id=spec.name + "_handwritten", schedule=None, start_date=spec.start_date,
             default_args=default_args(spec), tags=["test"]) as dag:
        group = batch_task_group(spec)
        EmptyOperator(task_id="before") >> group >> EmptyOperator(task_id="after")
else:
    dag = build_dag(spec)
'''


def main() -> None:
    args = json.loads(sys.argv[1])
    folder = Path(args["dags_folder"])
    taskgroup = bool(args.get("taskgroup"))
    (folder / "spec.json").write_text(json.dumps(args["spec"]))
    path = folder / "batch_dag.py"
    path.write_text(DAG_FILE.format(kind=" inside a hand-written DAG" if taskgroup else "", taskgroup=taskgroup))
    module_spec = importlib.util.spec_from_file_location("batch_dag", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    start, end = args["interval"]
    run = module.dag.test(run_conf={"interval_start": start, "interval_end": end})
    states = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps({"state": str(run.state), "tasks": states}))


if __name__ == "__main__":
    main()
