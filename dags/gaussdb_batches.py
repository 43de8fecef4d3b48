"""Every batch spec in include/batches/ as a scheduled Airflow DAG (plus a manual rollback DAG each).

Thin on purpose: specs are data, the provider builds the DAGs; importing this file
reads YAML only and never connects to a database.
"""

from __future__ import annotations

import os
from pathlib import Path

from gaussdb_batch.dag_factory import dags_from_folder

INCLUDE = Path(os.environ.get("GAUSSDB_BATCH_INCLUDE", Path(__file__).resolve().parents[1] / "include"))

globals().update(dags_from_folder(INCLUDE / "batches"))
