"""Manual batches that a test adds to the running stack: their spec text, and waiting for the parse."""

from __future__ import annotations

from tests.e2e.conftest import EXTRACT_POOL, LOAD_POOL, Stack, wait_until


def manual_spec(name: str, *, description: str, target: str, tag: str, chunk_rows: int, max_rejects: int) -> str:
    """A batch without schedule (triggered with interval params) from TPC-H orders into ``target``."""
    return f"""\
name: {name}
description: {description}
schedule: null
start_date: 1992-01-01
tags: [e2e, {tag}]
source: {{conn_id: e2e_source, table: tpch.orders, interval_column: o_orderdate}}
target: {{conn_id: e2e_target, table: {target}}}
keys: [o_orderkey]
mode: upsert
chunk_rows: {chunk_rows}
lanes: 2
pool: {LOAD_POOL}
extract_pool: {EXTRACT_POOL}
max_rejects: {max_rejects}
retries: 1
retry_delay_seconds: 1
retry_exponential_backoff: 1
max_retry_delay_seconds: 2
"""


def add_batch(st: Stack, name: str, spec: str) -> None:
    """Add the spec and its DAG file to the stack and wait until the dag-processor parsed it."""
    st.add_batch(name, spec)
    wait_until(f"the dag-processor to parse {name}", lambda: st._dag_parsed(name), timeout=240, interval=3,
               diagnose=st.diagnose)
