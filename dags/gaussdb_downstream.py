"""A downstream DAG scheduled on the batches' target tables (Airflow Assets).

It runs after every good batch run, never after a compensated one: the asset event is emitted
only by the finalize task of a run that loaded and passed its checks. Its task reads the
event's extra (interval, rows written, rejects, the control schema's run id), which is what a
real consumer (a report, an export, a dbt job) would scope itself to. Parsing reads YAML and
resolves connections; it never connects to a database.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, AssetAny, task

from gaussdb_batch.assets import target_outlets
from gaussdb_batch.engine.spec import SpecError
from gaussdb_batch.engine.spec_parser import load_spec

INCLUDE = Path(os.environ.get("GAUSSDB_BATCH_INCLUDE", Path(__file__).resolve().parents[1] / "include"))
DAG_ID = "gaussdb_batch_downstream"


def _loadable(path: Path) -> list:
    """The spec of one file, or nothing: a bad spec is its own DAG file's import error, and here it
    only loses its asset (this DAG keeps scheduling on every other batch)."""
    try:
        return [load_spec(path)]
    except SpecError:
        return []


ASSETS = [asset for path in sorted((INCLUDE / "batches").glob("*.yaml")) for spec in _loadable(path)
          for asset in target_outlets(spec)]


@task
def report_loaded_intervals(triggering_asset_events: Any = None) -> list[dict]:
    """One line per batch run that triggered this DAG run, from its asset event's extra."""
    seen = []
    for asset, events in (triggering_asset_events or {}).items():
        for event in events:
            extra = dict(event.extra or {})
            print(f"{asset.uri}: run {extra.get('run_id')} loaded {extra.get('rows_written')} rows of "
                  f"{extra.get('interval_start')} .. {extra.get('interval_end')} "
                  f"({extra.get('rows_rejected')} rejected)")
            seen.append({"uri": asset.uri, **extra})
    return seen


if ASSETS:
    with DAG(
        dag_id=DAG_ID,
        schedule=AssetAny(*ASSETS),
        catchup=False,
        default_args={"owner": "data-engineering", "retries": 2, "retry_delay": dt.timedelta(seconds=30),
                      "retry_exponential_backoff": 2.0, "max_retry_delay": dt.timedelta(minutes=5)},
        tags=["gaussdb-batch", "downstream"],
        doc_md=__doc__,
        description="Runs after each good gaussdb-batch run (scheduled on the target tables' Assets)",
    ):
        report_loaded_intervals()
