"""Astro CLI's default DAG integrity test (run by `astro dev pytest`): every DAG imports cleanly.

The project's own, stricter integrity suite is tests/dags/test_dag_integrity.py.
"""

import os
from contextlib import contextmanager

import pytest
from airflow.dag_processing.dagbag import DagBag


@contextmanager
def suppress_logging(namespace):
    import logging

    logger = logging.getLogger(namespace)
    old_value = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = old_value


def get_import_errors():
    with suppress_logging("airflow"):
        dag_bag = DagBag()

        def strip_path_prefix(path):
            return os.path.relpath(path, os.environ.get("AIRFLOW_HOME"))

        return [(None, None)] + [(strip_path_prefix(k), v.strip()) for k, v in dag_bag.import_errors.items()]


def get_dags():
    with suppress_logging("airflow"):
        dag_bag = DagBag()

    def strip_path_prefix(path):
        return os.path.relpath(path, os.environ.get("AIRFLOW_HOME"))

    return [(k, v, strip_path_prefix(v.fileloc)) for k, v in dag_bag.dags.items()]


@pytest.mark.parametrize("rel_path,rv", get_import_errors(), ids=[x[0] for x in get_import_errors()])
def test_file_imports(rel_path, rv):
    """Test for import errors on a file."""
    if rel_path and rv:
        raise Exception(f"{rel_path} failed to import with message \n {rv}")
