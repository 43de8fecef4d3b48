"""Batch `tpch_lineitem`: the Airflow DAG (and rollback DAG) of include/batches/tpch_lineitem.yaml.

One thin file per spec: a bad spec is an import error of this file only, naming the YAML
file, line and field; every other batch keeps its DAGs. Parsing reads YAML only and never
connects to a database. `gaussdb-batch validate` checks the spec before a deploy.
"""

from gaussdb_batch.dag_factory import dags_for_file

globals().update(dags_for_file(__file__))
