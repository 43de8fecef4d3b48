"""The shape of an expectation suite (``checks.expectations``): read and checked without GX or a database.

The spec parser reads a batch's suite with this once, at DAG parse time, and keeps it on the
spec (``spec.checks.expectations``); the pre-flight checks its columns against the target and
checks/expectations.py runs it with GX on the rows a run loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaussdb_batch.engine.errors import PermanentBatchError

FIELD = "checks.expectations"
#: Keys an expectation may carry (GX 1.x suite files add id/notes/rendered_content; 0.x used expectation_type).
_ITEM_KEYS = {"type", "expectation_type", "kwargs", "meta", "severity", "id", "notes", "description",
              "rendered_content", "ge_cloud_id"}
_SUITE_KEYS = {"name", "expectation_suite_name", "expectations", "meta", "id", "notes", "ge_cloud_id",
               "data_asset_type"}
_SEVERITIES = ("critical", "warning", "info")
#: Kwargs naming target columns, checked against the target before any query.
COLUMN_KWARGS = ("column", "column_A", "column_B")
COLUMN_LIST_KWARGS = ("column_list", "column_set")


@dataclass(frozen=True)
class ExpectationSpec:
    """One declared expectation, shape-checked; ``where`` names it in error messages."""

    type: str
    kwargs: dict[str, Any]
    severity: str = "critical"
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = FIELD

    @property
    def label(self) -> str:
        """A readable name: the type and its columns, e.g. ``expect_column_values_to_be_between(o_totalprice)``."""
        cols: list[str] = [str(self.kwargs[k]) for k in COLUMN_KWARGS if isinstance(self.kwargs.get(k), str)]
        for k in COLUMN_LIST_KWARGS:
            if isinstance(self.kwargs.get(k), list):
                cols.extend(str(c) for c in self.kwargs[k])
        return f"{self.type}({', '.join(cols)})" if cols else self.type


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    expectations: list[ExpectationSpec]
    source: str  # "inline" or the resolved file path


# ---------------------------------------------------------------------------- shapes
def include_dir() -> Path:
    """The include folder: ``GAUSSDB_BATCH_INCLUDE``, else ``include/`` of this checkout."""
    env = os.environ.get("GAUSSDB_BATCH_INCLUDE")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "include"


def _resolve_path(batch: str, value: str) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        base = include_dir()
        candidates = [base / path]
        if path.parts and path.parts[0] == "include":
            candidates.append(base.joinpath(*path.parts[1:]))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise PermanentBatchError(
        batch, f"{FIELD}: suite file {value!r} not found (looked for {', '.join(str(c) for c in candidates)})"
    )


def _load_file(batch: str, value: str) -> tuple[Path, Any]:
    path = _resolve_path(batch, value)
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PermanentBatchError(batch, f"{FIELD}: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise PermanentBatchError(batch, f"{FIELD}: {path} is not valid JSON: {exc}") from None


def _item(batch: str, raw: Any, where: str) -> ExpectationSpec:
    if not isinstance(raw, Mapping):
        raise PermanentBatchError(batch, f"{where} must be a mapping with 'type' and 'kwargs', got {raw!r}")
    unknown = sorted(set(raw) - _ITEM_KEYS)
    if unknown:
        raise PermanentBatchError(batch, f"{where}: unknown keys {unknown} (expected type, kwargs, meta, severity)")
    type_ = raw.get("type", raw.get("expectation_type"))
    if not isinstance(type_, str) or not type_.strip():
        raise PermanentBatchError(batch, f"{where}.type is required: the expectation's name, "
                                         "e.g. 'expect_column_values_to_not_be_null'")
    kwargs = raw.get("kwargs", {})
    if kwargs is None:
        kwargs = {}
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise PermanentBatchError(batch, f"{where}.kwargs must be a mapping of argument names to values")
    meta = raw.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise PermanentBatchError(batch, f"{where}.meta must be a mapping")
    severity = raw.get("severity", "critical")
    if severity not in _SEVERITIES:
        raise PermanentBatchError(batch, f"{where}.severity must be one of {list(_SEVERITIES)}, got {severity!r}")
    return ExpectationSpec(type=type_.strip(), kwargs=dict(kwargs), severity=severity, meta=dict(meta), where=where)


def parse_suite(batch: str, value: Any) -> SuiteSpec:
    """Shape-check the spec's ``checks.expectations`` (inline list or JSON file path); no GX, no database."""
    if isinstance(value, str):
        path, data = _load_file(batch, value)
        where, source = f"{FIELD} ({path.name})", str(path)
        name = path.stem
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - _SUITE_KEYS)
            if unknown:
                raise PermanentBatchError(batch, f"{where}: unknown suite keys {unknown} "
                                                 "(an ExpectationSuite has name, expectations, meta)")
            name = data.get("name") or data.get("expectation_suite_name") or name
            if not isinstance(name, str):
                raise PermanentBatchError(batch, f"{where}: the suite name must be a string")
            items = data.get("expectations")
            if not isinstance(items, list):
                raise PermanentBatchError(batch, f"{where}: 'expectations' must be a list")
        elif isinstance(data, list):
            items = data
        else:
            raise PermanentBatchError(batch, f"{where}: expected a list of expectations or an ExpectationSuite object")
    elif isinstance(value, list):
        items, where, source, name = value, FIELD, "inline", f"{batch}.inline"
    else:
        raise PermanentBatchError(
            batch, f"{FIELD} must be a list of {{type, kwargs}} mappings or the path of a JSON suite file, "
                   f"got {type(value).__name__}"
        )
    if not items:
        raise PermanentBatchError(batch, f"{where} declares no expectations")
    specs = [_item(batch, raw, f"{where}[{i}]") for i, raw in enumerate(items)]
    return SuiteSpec(name=name[:200], expectations=specs, source=source)
