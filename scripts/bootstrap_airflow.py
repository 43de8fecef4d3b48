"""Import connections, pools and variables declared in airflow_settings.yaml into Airflow.

Idempotent: existing entries are updated in place. ``${VAR}`` and ``${VAR:-default}``
are expanded from the environment. Run with the project's AIRFLOW_HOME exported.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import yaml

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value):
    """Expand ${VAR} / ${VAR:-default} recursively in strings of a YAML tree."""
    if isinstance(value, str):
        def repl(m: re.Match) -> str:
            name, default = m.group(1), m.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is None:
                raise SystemExit(f"airflow_settings.yaml: ${{{name}}} is not set and has no default")
            return default

        return _VAR.sub(repl, value)
    if isinstance(value, list):
        return [expand(v) for v in value]
    if isinstance(value, dict):
        return {k: expand(v) for k, v in value.items()}
    return value


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text()) or {}
    section = data.get("airflow") or {}
    unknown = set(section) - {"connections", "pools", "variables"}
    if unknown:
        raise SystemExit(f"{path}: unknown keys under 'airflow': {sorted(unknown)}")
    return expand(section)


def main(path: str = "airflow_settings.yaml") -> int:
    settings = load(Path(path))
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        for c in settings.get("connections") or []:
            extra = c.get("conn_extra")
            fields = dict(
                conn_type=c["conn_type"],
                host=c.get("conn_host"),
                port=int(c["conn_port"]) if c.get("conn_port") not in (None, "") else None,
                schema=c.get("conn_schema"),
                login=c.get("conn_login"),
                password=c.get("conn_password") or None,
                extra=json.dumps(extra) if isinstance(extra, dict) else extra,
            )
            existing = session.query(Connection).filter(Connection.conn_id == c["conn_id"]).one_or_none()
            if existing is None:
                session.add(Connection(conn_id=c["conn_id"], **fields))
            else:
                for key, value in fields.items():
                    setattr(existing, key, value)
        session.flush()
        for p in settings.get("pools") or []:
            Pool.create_or_update_pool(
                name=p["pool_name"],
                slots=int(p["pool_slot"]),
                description=p.get("pool_description", ""),
                include_deferred=bool(p.get("include_deferred", False)),
                session=session,
            )
    for v in settings.get("variables") or []:
        Variable.set(v["variable_name"], v["variable_value"])
    print(
        f"imported {len(settings.get('connections') or [])} connections, "
        f"{len(settings.get('pools') or [])} pools, {len(settings.get('variables') or [])} variables"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
