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
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gaussdb_batch.engine.spec import BatchSpec, SpecError
from gaussdb_batch.engine.spec_parser import load_spec

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gaussdb-batch", description="Check gaussdb-batch specs.")
    sub = parser.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check spec files (offline; --connect: also against the databases)")
    v.add_argument("paths", nargs="*", help="spec files or folders (default: $GAUSSDB_BATCH_INCLUDE/batches)")
    v.add_argument("--connect", action="store_true",
                   help="also check tables, columns and indexes through the specs' Airflow connections")
    v.add_argument("--dags", help="the DAGs folder whose per-batch files must exist (default: "
                                  "$AIRFLOW__CORE__DAGS_FOLDER or ./dags; 'none' to skip)")
    args = parser.parse_args(argv)
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
