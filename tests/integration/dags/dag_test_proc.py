"""Run one batch DAG with dag.test() in a fresh process (clean metrics and Airflow state).

dag.test() in Airflow 3.3 only runs DAGs it finds in a DAG bundle, so the DAG is written as
a real DAG file into the folder given (which must be AIRFLOW__CORE__DAGS_FOLDER), then run.

Usage: python -m tests.integration.dags.dag_test_proc '<json: {"spec": {...}, "taskgroup": bool,
"interval": [start, end] or null, "dags_folder": path, "dag_id": optional, "conf": optional}>'. The run is triggered with the logical date ``end``:
its data interval is the one the spec's schedule gives (it must be [start, end)). Prints one
JSON line: run and task states.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

DAG_FILE = '''"""Airflow DAG under test: a batch spec, built by the factory{kind}."""
import json
from pathlib import Path

from airflow.sdk import DAG, CronDataIntervalTimetable
from airflow.providers.standard.operators.empty import EmptyOperator

from gaussdb_batch.dag_factory import batch_task_group, dags_for_spec, default_args
from gaussdb_batch.engine.spec_parser import parse_spec

spec = parse_spec(json.loads((Path(__file__).parent / "spec.json").read_text()))
if {taskgroup}:
    with DAG(dag_id=spec.name + "_handwritten", schedule=CronDataIntervalTimetable(spec.schedule, timezone="UTC"),
             start_date=spec.start_date,
             default_args=default_args(spec), tags=["test"]) as dag:
        group = batch_task_group(spec)
        EmptyOperator(task_id="before") >> group >> EmptyOperator(task_id="after")
else:
    globals().update(dags_for_spec(spec))
    dag = globals()[spec.dag_id]
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
    dag = getattr(module, args["dag_id"]) if args.get("dag_id") else module.dag
    if args.get("interval"):
        start, end = (dt.datetime.fromisoformat(v) for v in args["interval"])
        # The run's own data interval, as the timetable infers it for a manual run at ``end``
        # (the spec's schedule must make it the interval asked for).
        run = dag.test(logical_date=end, run_conf=args.get("conf"))
        assert (run.data_interval_start, run.data_interval_end) == (start, end), (
            f"the schedule gives {run.data_interval_start} .. {run.data_interval_end}, not {start} .. {end}")
    else:  # a manual run without a logical date (and so without a data interval)
        run = dag.test(logical_date=None, run_conf=args.get("conf"))
    tis = run.get_task_instances()
    print(json.dumps({"state": str(run.state), "run_id": run.run_id,
                      "tasks": {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in tis},
                      "tries": {f"{ti.task_id}[{ti.map_index}]": ti.try_number for ti in tis}}))


if __name__ == "__main__":
    main()
