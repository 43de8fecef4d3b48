"""``gaussdb-batch``: check batch specs before they reach Airflow.

    gaussdb-batch validate [PATH ...]            # spec files or folders (default: include/batches)
    gaussdb-batch validate --connect [PATH ...]  # also against the databases (Airflow connections)

Offline it parses every spec as the DAG files do (file, line, field, did-you-mean) and checks
that each spec has its DAG file and that batch names are unique. ``--connect`` runs the
extract pre-flight (engine/preflight.py) against the connections: tables, interval column,
keys, check columns, an index on the keys. Connections are resolved as for Airflow's tasks:
environment variables, then the configured secrets backend, then the metadata database (a
connection made in the UI, by airflow_settings.yaml or ``airflow connections add``). Exit status
0 when every spec is fine, 1 otherwise.

    gaussdb-batch diff BATCH [--interval START..END] [--keys LO..HI] [--spec-dir DIR]

compares the batch's source with its target now (engine/reconciliation.py, report mode: nothing is
changed but the control schema's record of the comparison), through the same connections, and
prints the summary and the first differing records. Exit status 0 when equal, 1 when they differ,
2 on bad input (no such batch, a bad range, a batch the reconciliation cannot compare).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gaussdb_batch.engine.spec import BatchSpec, SpecError
from gaussdb_batch.engine.spec_parser import load_spec

if TYPE_CHECKING:
    from gaussdb_batch.engine.reconciliation import ReconcileScope

DAG_FILE_TEMPLATE = '''"""Batch `{name}`: the Airflow DAG (and rollback DAG) of include/batches/{name}.yaml."""

from gaussdb_batch.dag_factory import dags_for_file

globals().update(dags_for_file(__file__))
'''


@dataclass
class Report:
    """What validate found: specs that passed, and messages per spec file."""

    ok: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def spec_files(paths: Sequence[str | Path]) -> list[Path]:
    """The ``*.yaml`` / ``*.yml`` files named, or found in the folders named, sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        else:
            out.append(p)
    return out


def default_paths() -> list[Path]:
    include = os.environ.get("GAUSSDB_BATCH_INCLUDE")
    return [Path(include) / "batches" if include else Path("include") / "batches"]


def dag_folder() -> Path | None:
    folder = os.environ.get("AIRFLOW__CORE__DAGS_FOLDER")
    if folder:
        return Path(folder)
    return Path("dags") if Path("dags").is_dir() else None


def validate(paths: Sequence[str | Path], *, connect: bool = False, dags: Path | None = None) -> Report:
    """Validate spec files; the DAG integrity tests call this too."""
    report = Report()
    specs: list[tuple[Path, BatchSpec]] = []
    files = spec_files(paths)
    if not files:
        report.errors.append(f"no spec files in {', '.join(map(str, paths))}")
    for path in files:
        try:
            specs.append((path, load_spec(path)))
        except SpecError as exc:
            report.errors.append(str(exc))
    seen: dict[str, Path] = {}
    for path, spec in specs:
        if spec.name in seen:
            report.errors.append(f"{path}: batch name {spec.name!r} is already used by {seen[spec.name]}")
        seen.setdefault(spec.name, path)
        if dags is not None and not (dags / f"{path.stem}.py").is_file():
            report.errors.append(f"{path}: no DAG file {dags / (path.stem + '.py')}: Airflow will not see this batch. "
                                 f"Create it with:\n{DAG_FILE_TEMPLATE.format(name=path.stem)}")
        if path.stem != spec.name:
            report.errors.append(f"{path}: the file is named {path.stem!r} but the batch {spec.name!r}; "
                                 "name the file like the batch (its DAG file reads <name>.yaml)")
    for path, spec in specs:
        problems = _connect(spec) if connect else []
        if problems:
            report.errors += [f"{path}: batch {spec.name!r}: {p}" for p in problems]
        elif not any(e.startswith(f"{path}:") or e.startswith(f"{path} ") for e in report.errors):
            report.ok.append(f"{path}: batch {spec.name!r} ok" + (" (checked against the databases)" if connect else ""))
    return report


def resolve_connections_like_tasks() -> None:
    """Look connections up in the chain Airflow's tasks get them from (env, secrets backend,
    metadata database): outside a task the Task SDK would skip the metadata database.

    Airflow's own server processes (api-server, scheduler) select that chain the same way; a
    process that already chose one (a task, a test) keeps it.
    """
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")


def _connect(spec: BatchSpec) -> list[str]:
    from gaussdb_batch.engine import preflight
    from gaussdb_batch.engine.context import BatchContext

    ctx = BatchContext(spec)
    try:
        return [str(p) for p in preflight.check(ctx)]
    finally:
        ctx.close()


def find_spec(name: str, paths: Sequence[str | Path]) -> BatchSpec:
    """The spec of batch ``name`` among the spec files in ``paths`` (SpecError when none or unreadable)."""
    for path in spec_files(paths):
        if path.stem == name:
            spec = load_spec(path)
            if spec.name == name:
                return spec
    for path in spec_files(paths):
        try:
            spec = load_spec(path)
        except SpecError:
            continue
        if spec.name == name:
            return spec
    raise SpecError(f"no batch {name!r} in {', '.join(map(str, paths))}")


def diff_scope(interval: str | None, keys: str | None) -> ReconcileScope:
    """The comparison's scope from ``--interval START..END`` / ``--keys LO..HI`` (ValueError when malformed)."""
    from gaussdb_batch.engine.choices import ReconcileScopeKind
    from gaussdb_batch.engine.reconciliation import ReconcileScope

    if interval and keys:
        raise ValueError("--interval and --keys: give one, not both")
    if interval:
        start, sep, end = interval.partition("..")
        if not sep:
            raise ValueError(f"--interval {interval!r}: expected START..END (ISO dates or timestamps)")
        try:
            lo, hi = dt.datetime.fromisoformat(start.strip()), dt.datetime.fromisoformat(end.strip())
        except ValueError as exc:
            raise ValueError(f"--interval {interval!r}: {exc}") from None
        return ReconcileScope(ReconcileScopeKind.INTERVALS, start=lo, end=hi)
    if keys:
        lo_k, sep, hi_k = keys.partition("..")
        if not sep or not lo_k or not hi_k:
            raise ValueError(f"--keys {keys!r}: expected LO..HI (of the first key column)")
        return ReconcileScope(ReconcileScopeKind.KEYS, key_lo=lo_k, key_hi=hi_k)
    return ReconcileScope(ReconcileScopeKind.TABLE)


def diff(name: str, *, interval: str | None = None, keys: str | None = None, spec_dir: str | None = None,
         show: int = 20) -> int:
    """``gaussdb-batch diff``: compare one batch's source with its target; the exit status."""
    from gaussdb_batch.engine.context import BatchContext
    from gaussdb_batch.engine.errors import PermanentBatchError
    from gaussdb_batch.engine.reconciliation import reconcile

    try:
        scope = diff_scope(interval, keys)
        spec = find_spec(name, [spec_dir] if spec_dir else default_paths())
    except (ValueError, SpecError) as exc:
        print(f"error {exc}", file=sys.stderr)
        return 2
    resolve_connections_like_tasks()
    ctx = BatchContext(spec)
    try:
        result = reconcile(ctx, scope, keep=show)
    except (ValueError, PermanentBatchError) as exc:
        print(f"error {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        code = str(getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None) or "")
        if not code.startswith("22"):  # class 22: a bound the key's type cannot hold ('abc' for a bigint)
            raise
        print(f"error --keys/--interval: the server refused a bound ({code}): {str(exc).strip()}", file=sys.stderr)
        return 2
    finally:
        ctx.close()
    print(f"batch {spec.name}: {scope.kind.value} {_scope_text(scope)}reconciliation {result.recon_id}")
    print(f"rows: source {result.source_rows}, target {result.target_rows}; ranges compared {result.ranges_compared}")
    print("differences: " + ", ".join(f"{k.value} {n}" for k, n in result.differences.items()))
    print(f"seconds {result.seconds:.2f}, bytes moved to the worker {result.bytes_fetched}")
    for r in result.records:
        key = json.dumps(r.key, sort_keys=True)
        print(f"  {r.kind.value:<17} {key} source {r.source_digest or '-'} target {r.target_digest or '-'}")
    shown, total = len(result.records), sum(result.differences.values())
    if total > shown:
        print(f"  ... {total - shown} more (reconciliation_diffs, recon_id {result.recon_id})")
    return 0 if total == 0 else 1


def _scope_text(scope: ReconcileScope) -> str:
    if scope.start is not None and scope.end is not None:
        return f"[{scope.start.isoformat()}, {scope.end.isoformat()}) "
    if scope.key_lo is not None:
        return f"[{scope.key_lo}, {scope.key_hi}] "
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gaussdb-batch", description="Check gaussdb-batch specs.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check spec files (offline; --connect: also against the databases)")
    v.add_argument("paths", nargs="*", help="spec files or folders (default: $GAUSSDB_BATCH_INCLUDE/batches)")
    v.add_argument("--connect", action="store_true",
                   help="also check tables, columns and indexes through the specs' Airflow connections")
    v.add_argument("--dags", help="the DAGs folder whose per-batch files must exist (default: "
                                  "$AIRFLOW__CORE__DAGS_FOLDER or ./dags; 'none' to skip)")
    df = sub.add_parser("diff", help="compare a batch's source with its target now (report only)")
    df.add_argument("batch", help="the batch's name")
    df.add_argument("--interval", help="START..END: rows whose interval column is in [START, END)")
    df.add_argument("--keys", help="LO..HI: rows whose first key is in [LO, HI]")
    df.add_argument("--spec-dir", help="the folder of spec files (default: $GAUSSDB_BATCH_INCLUDE/batches)")
    df.add_argument("--show", type=int, default=20, help="differing records to print (default 20)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.command == "diff":
        return diff(args.batch, interval=args.interval, keys=args.keys, spec_dir=args.spec_dir, show=args.show)
    dags = None if args.dags == "none" else (Path(args.dags) if args.dags else dag_folder())
    if args.connect:
        resolve_connections_like_tasks()
    report = validate(args.paths or default_paths(), connect=args.connect, dags=dags)
    for line in report.ok:
        print(f"ok    {line}")
    for line in report.errors:
        print(f"error {line}", file=sys.stderr)
    print(f"{len(report.ok)} ok, {len(report.errors)} error(s)")
    return 1 if report.errors else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
