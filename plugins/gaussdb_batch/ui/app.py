"""The Batches page's FastAPI app, mounted in the Airflow api-server by the plugin (``/gaussdb-batch``).

Every ``/api`` endpoint requires Airflow's authentication (the JWT of the UI's session cookie or
an ``Authorization: Bearer`` token) and read access to the batch's DAG; row values of rejects
(their keys and row text) are shown only to users who may edit the DAG. Data is read from the
batch's control schema through the batch's own Airflow connection; responses and errors never
carry a connection's host, login or password. The page itself (``/``) is static HTML with no
data: it fetches the endpoints with the user's session.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.spec import BatchSpec, load_specs
from gaussdb_batch.ui import queries

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")


def include_folder() -> Path:
    """Where the batch specs are: ``GAUSSDB_BATCH_INCLUDE``, else ``include/`` beside the DAGs folder."""
    env = os.environ.get("GAUSSDB_BATCH_INCLUDE")
    if env:
        return Path(env)
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).resolve().parent / "include"


def _specs() -> dict[str, BatchSpec]:
    return {s.name: s for s in load_specs(include_folder() / "batches")}


def _authorized(user: Any, dag_id: str, method: str) -> bool:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails

    return get_auth_manager().is_authorized_dag(method=method, user=user, details=DagDetails(id=dag_id))


def _spec_for(name: str, user: Any) -> BatchSpec:
    spec = _specs().get(name)
    if spec is None:
        raise HTTPException(status_code=404, detail=f"no batch {name!r}")
    if not _authorized(user, spec.dag_id, "GET"):
        raise HTTPException(status_code=403, detail=f"not allowed to read DAG {spec.dag_id!r}")
    return spec


@contextmanager
def _reading(spec: BatchSpec) -> Iterator[BatchContext]:
    """The batch's context for reads; any failure becomes a 502 that names the batch, not the server."""
    ctx = BatchContext(spec)
    try:
        yield ctx
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the cause goes to the api-server log only
        log.warning("Batches page: reading the control schema of batch %s failed: %s", spec.name, exc)
        raise HTTPException(status_code=502, detail=f"cannot read the control schema of batch {spec.name!r} "
                                                    "(the api-server log has the cause)") from None
    finally:
        ctx.close()


def _links(spec: BatchSpec, run: dict) -> dict[str, str | None]:
    dag_run = run.get("dag_run_id")
    owner = run.get("owner_dag_id") or spec.dag_id
    return {
        "dag": f"dags/{spec.dag_id}",
        "dag_run": f"dags/{owner}/runs/{quote(dag_run, safe='')}" if dag_run else None,
        # The rollback DAG's page (trigger it with param run_id); only a finished run can be rolled back.
        "rollback": f"dags/{spec.dag_id}__rollback" if run.get("succeeded") else None,
    }


def _summary(spec: BatchSpec) -> dict[str, Any]:
    src = spec.source
    source = (f"files {src.files}" if src.kind == "files" else
              "a SQL query" if src.kind == "sql" else f"table {src.table.schema}.{src.table.name}")
    return {"batch": spec.name, "dag_id": spec.dag_id, "description": spec.description,
            "target": f"{spec.target.table.schema}.{spec.target.table.name}", "source": source, "mode": spec.mode,
            "lanes": spec.lanes, "chunk_rows": spec.chunk_rows, "max_rejects": spec.max_rejects}


def create_app() -> FastAPI:
    app = FastAPI(title="gaussdb-batch: Batches", description="Runs, chunks, rejects and reconciliation of the "
                  "batches' control schemas", docs_url=None, redoc_url=None, openapi_url=None)
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    @app.get("/api/batches")
    def batches(user: GetUserDep, runs: Annotated[int, Query(ge=1, le=50)] = 5) -> dict[str, Any]:
        """Every batch the user may read, with its latest runs."""
        out = []
        for spec in _specs().values():
            if not _authorized(user, spec.dag_id, "GET"):
                continue
            item = _summary(spec)
            try:
                with _reading(spec) as ctx:
                    latest = queries.runs(ctx, limit=runs) if queries.has_control_schema(ctx) else []
            except HTTPException as exc:  # one unreachable target must not hide the other batches
                item["error"], latest = exc.detail, []
            item["runs"] = [{**r, "links": _links(spec, r)} for r in latest]
            out.append(item)
        return {"batches": out}

    @app.get("/api/batches/{batch}/runs/{run_id}")
    def run(batch: str, run_id: int, user: GetUserDep) -> dict[str, Any]:
        """One run: its counts, progress, chunks (status, rows, lane, timings) and links."""
        spec = _spec_for(batch, user)
        with _reading(spec) as ctx:
            found = queries.runs(ctx, run_id=run_id, limit=1) if queries.has_control_schema(ctx) else []
            if not found:
                raise HTTPException(status_code=404, detail=f"batch {batch!r} has no run {run_id}")
            item = {**found[0], "links": _links(spec, found[0]), "batch": _summary(spec)}
            item["chunks"] = queries.chunks(ctx, run_id)
        return item

    @app.get("/api/batches/{batch}/runs/{run_id}/rejects")
    def rejects(batch: str, run_id: int, user: GetUserDep, offset: Annotated[int, Query(ge=0)] = 0,
                limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50) -> dict[str, Any]:
        """A page of the run's rejects: stage, SQLSTATE and reason; keys and row values only for
        users allowed to edit the batch's DAG."""
        spec = _spec_for(batch, user)
        with _reading(spec) as ctx:
            return queries.rejects(ctx, run_id, offset=offset, limit=limit,
                                   with_values=_authorized(user, spec.dag_id, "PUT"))

    @app.get("/api/batches/{batch}/runs/{run_id}/reconciliation")
    def reconciliation(batch: str, run_id: int, user: GetUserDep) -> dict[str, Any]:
        """The check's per-chunk comparisons (count and fingerprint, by pass) and quality results."""
        spec = _spec_for(batch, user)
        with _reading(spec) as ctx:
            return queries.reconciliation(ctx, run_id)

    return app
