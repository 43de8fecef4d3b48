"""Airflow operators of a batch; they call the engine and hold no SQL. DAGs are built in ``dag_factory``."""
