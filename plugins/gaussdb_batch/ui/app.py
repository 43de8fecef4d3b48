"""The Batches page's FastAPI app, mounted in the Airflow api-server by the plugin (``/gaussdb-batch``).

Every ``/api`` endpoint requires Airflow's authentication (the JWT of the UI's session cookie or
an ``Authorization: Bearer`` token) and authorizes exactly as Airflow's own DAG endpoints do, by
calling them: the list shows the batches whose DAG is among the auth manager's
``get_authorized_dag_ids`` (``GET /api/v2/dags``), and a batch's run, rejects and reconciliation
(and its latest scheduled reconciliation) pass ``requires_access_dag`` for the batch's DAG (its team resolved from the DAG's bundle, as
``GET /api/v2/dags/{dag_id}/dagRuns`` does), else 403. Row values (reject keys, row text and the
values a server message quotes, a differing record's key and digests) are shown only to users who may edit the DAG. Data is read from
the batch's control schema through the batch's own Airflow connection, batch and run id
together; responses and errors never carry a connection's host, login, password or a database
error. Each spec file is loaded on its own: a bad one is listed with its error, the others work.
The page itself (``/``) is static HTML with no data: it fetches the endpoints with the user's session.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.responses import HTMLResponse

from gaussdb_batch.engine.context import BatchContext
from gaussdb_batch.engine.spec import BatchSpec
from gaussdb_batch.engine.spec_parser import load_spec
from gaussdb_batch.ui import queries

#: The HTTP methods Airflow's access checks know.
Method = Literal["GET", "POST", "PUT", "DELETE"]

log = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")
RunId = Annotated[int, PathParam(ge=1, le=queries.MAX_RUN_ID)]


def include_folder() -> Path:
    """Where the batch specs are: ``GAUSSDB_BATCH_INCLUDE``, else ``include/`` beside the DAGs folder."""
    env = os.environ.get("GAUSSDB_BATCH_INCLUDE")
    if env:
        return Path(env)
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).resolve().parent / "include"


@dataclass(frozen=True)
class Entry:
    """One spec file: its batch (named like the file until the spec says otherwise) and its spec or error."""

    name: str
    spec: BatchSpec | None = None
    error: str | None = None

    @property
    def dag_id(self) -> str:
        return self.spec.dag_id if self.spec else self.name


def _entries() -> dict[str, Entry]:
    """Every spec file of the include folder, each loaded on its own (like the per-batch DAG files):
    a bad or unreadable file is its own batch's error; two files of one name are both errors."""
    out: dict[str, Entry] = {}
    for path in sorted((include_folder() / "batches").glob("*.yaml")):
        try:
            spec = load_spec(path)
            entry = Entry(spec.name, spec=spec)
        except Exception as exc:  # noqa: BLE001 - SpecError, OSError, YAML: the file's own error
            entry = Entry(path.stem, error=str(exc) or type(exc).__name__)
        if entry.name in out:
            entry = Entry(entry.name, error=f"{path}: batch {entry.name!r} is named by another spec file too")
        out[entry.name] = entry
    return out


def _require(request: Request, user: Any, dag_id: str, method: Method = "GET", *, entity: Any = None) -> None:
    """Airflow's own check of a DAG endpoint (team resolved from the DAG's bundle): 403 when refused."""
    from airflow.api_fastapi.core_api.security import requires_access_dag

    requires_access_dag(method, entity, param_dag_id=dag_id)(request, user)


def _may(request: Request, user: Any, dag_id: str, method: Method) -> bool:
    try:
        _require(request, user, dag_id, method)
    except HTTPException:
        return False
    return True


def _readable_dag_ids(user: Any) -> set[str]:
    """The DAGs ``GET /api/v2/dags`` lists to the user."""
    from airflow.api_fastapi.app import get_auth_manager

    return set(get_auth_manager().get_authorized_dag_ids(user=user, method="GET"))


def _spec_for(name: str, request: Request, user: Any) -> BatchSpec:
    """The batch's spec, for a user Airflow lets read the batch's DAG runs (403 first, like Airflow)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity

    entry = _entries().get(name)
    _require(request, user, entry.dag_id if entry else name, entity=DagAccessEntity.RUN)
    if entry is None:
        raise HTTPException(status_code=404, detail=f"no batch {name!r}")
    if entry.spec is None:
        raise HTTPException(status_code=404, detail=f"batch {name!r} has no valid spec: {entry.error}")
    return entry.spec


@contextmanager
def _reading(spec: BatchSpec) -> Iterator[BatchContext]:
    """The batch's context for reads; any failure becomes a 502 that names the batch, not the server."""
    ctx = None
    try:
        ctx = BatchContext(spec)
        yield ctx
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the cause goes to the api-server log only
        log.warning("Batches page: reading the control schema of batch %s failed: %s", spec.name, exc)
        raise HTTPException(status_code=502, detail=f"cannot read the control schema of batch {spec.name!r} "
                                                    "(the api-server log has the cause)") from None
    finally:
        if ctx is not None:
            ctx.close()


def _run_of(ctx: BatchContext, spec: BatchSpec, run_id: int) -> dict:
    found = queries.run(ctx, run_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"batch {spec.name!r} has no run {run_id}")
    return found


def _links(spec: BatchSpec, run: dict) -> dict[str, str | None]:
    """Links into Airflow: the DAG, the DAG run that owns the run, and the rollback DAG.

    A manual rollback takes the run over, so its owner is then the rollback's DAG run: that link
    is ``rolled_back_by``, never the run's "DAG run".
    """
    dag_run = run.get("dag_run_id")
    owner = run.get("owner_dag_id") or spec.dag_id
    link = f"dags/{owner}/runs/{quote(dag_run, safe='')}" if dag_run else None
    rolled_back = owner == f"{spec.dag_id}__rollback"
    return {
        "dag": f"dags/{spec.dag_id}",
        "dag_run": None if rolled_back else link,
        "rolled_back_by": link if rolled_back else None,
        # The rollback DAG's page (trigger it with param run_id); only a finished run can be rolled back.
        "rollback": f"dags/{spec.dag_id}__rollback" if run.get("succeeded") else None,
    }


def _summary(spec: BatchSpec) -> dict[str, Any]:
    src = spec.source
    source = (f"files {src.files}" if src.files else "a SQL query" if src.sql or src.table is None
              else f"table {src.table.schema}.{src.table.name}")
    rec = spec.reconcile
    return {"batch": spec.name, "dag_id": spec.dag_id, "description": spec.description,
            "target": f"{spec.target.table.schema}.{spec.target.table.name}", "source": source, "mode": spec.mode,
            "lanes": spec.lanes, "chunk_rows": spec.chunk_rows, "max_rejects": spec.max_rejects,
            "reconcile": None if rec is None else {
                "dag_id": f"{spec.dag_id}__reconcile", "schedule": rec.schedule, "mode": rec.mode,
                "scope": rec.scope, "last_intervals": rec.last_intervals}}


def create_app() -> FastAPI:
    app = FastAPI(title="gaussdb-batch: Batches", description="Runs, chunks, rejects and reconciliation of the "
                  "batches' control schemas", docs_url=None, redoc_url=None, openapi_url=None)
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE.read_text())

    @app.get("/api/batches")
    def batches(request: Request, user: GetUserDep, runs: Annotated[int, Query(ge=1, le=50)] = 5) -> dict[str, Any]:
        """Every batch whose DAG the user may read (as ``GET /api/v2/dags`` lists them), with its latest
        runs; a batch whose spec or control schema cannot be read is listed with its error and
        ``runs: null`` (unknown, never "no runs")."""
        readable = _readable_dag_ids(user)
        out = []
        for entry in _entries().values():
            if entry.spec is None:
                # A bad spec has no DAG of its own any more: shown as Airflow shows GET /dags/{name}.
                if entry.dag_id in readable or _may(request, user, entry.dag_id, "GET"):
                    out.append({"batch": entry.name, "dag_id": entry.dag_id, "error": entry.error, "runs": None})
                continue
            spec = entry.spec
            if spec.dag_id not in readable:
                continue
            item = _summary(spec)
            try:
                with _reading(spec) as ctx:
                    latest = queries.runs(ctx, limit=runs) if queries.has_control_schema(ctx) else []
                item["runs"] = [{**r, "links": _links(spec, r)} for r in latest]
            except HTTPException as exc:  # one unreachable target must not hide the other batches
                item["error"], item["runs"] = exc.detail, None
            out.append(item)
        return {"batches": out}

    @app.get("/api/batches/{batch}/runs/{run_id}")
    def run(batch: str, run_id: RunId, request: Request, user: GetUserDep) -> dict[str, Any]:
        """One run of the batch: its counts, progress, chunks (status, rows, lane, timings) and links."""
        spec = _spec_for(batch, request, user)
        with _reading(spec) as ctx:
            found = _run_of(ctx, spec, run_id)
            item = {**found, "links": _links(spec, found), "batch": _summary(spec)}
            item["chunks"] = queries.chunks(ctx, run_id)
        return item

    @app.get("/api/batches/{batch}/runs/{run_id}/rejects")
    def rejects(batch: str, run_id: RunId, request: Request, user: GetUserDep,
                offset: Annotated[int, Query(ge=0, le=queries.MAX_OFFSET)] = 0,
                limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50) -> dict[str, Any]:
        """A page of the run's rejects: stage, SQLSTATE and reason; keys, row values and the values a
        reason quotes only for users allowed to edit the batch's DAG."""
        spec = _spec_for(batch, request, user)
        with_values = _may(request, user, spec.dag_id, "PUT")
        with _reading(spec) as ctx:
            _run_of(ctx, spec, run_id)
            return queries.rejects(ctx, run_id, offset=offset, limit=limit, with_values=with_values)

    @app.get("/api/batches/{batch}/runs/{run_id}/reconciliation")
    def reconciliation(batch: str, run_id: RunId, request: Request, user: GetUserDep) -> dict[str, Any]:
        """The check's per-chunk comparisons (count and fingerprint, by pass) and quality results."""
        spec = _spec_for(batch, request, user)
        with _reading(spec) as ctx:
            _run_of(ctx, spec, run_id)
            return queries.reconciliation(ctx, run_id)

    @app.get("/api/batches/{batch}/reconcile")
    def reconcile(batch: str, request: Request, user: GetUserDep,
                  offset: Annotated[int, Query(ge=0, le=queries.MAX_OFFSET)] = 0,
                  limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50) -> dict[str, Any]:
        """The batch's latest scheduled reconciliation (counts per kind, when, scope) and a page of its
        differing records: their keys and digests only for users allowed to edit the batch's DAG."""
        spec = _spec_for(batch, request, user)
        if spec.reconcile is None:
            raise HTTPException(status_code=404, detail=f"batch {spec.name!r} has no reconcile section")
        with_values = _may(request, user, spec.dag_id, "PUT")
        with _reading(spec) as ctx:
            return {"batch": spec.name, **_summary(spec)["reconcile"],
                    **queries.latest_reconciliation(ctx, offset=offset, limit=limit, with_values=with_values)}

    return app
