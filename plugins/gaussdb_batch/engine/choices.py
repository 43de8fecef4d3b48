"""The choices a spec and the engine make, as enums: no string literal stands in for one.

StrEnums, so a value read from YAML or the control schema compares equal to its member and
prints as the word users write.
"""

from __future__ import annotations

from enum import StrEnum


class LoadMode(StrEnum):
    """How a run writes its interval into the target (spec ``mode``)."""

    UPSERT = "upsert"
    APPEND = "append"
    DELETE_INSERT = "delete_insert"


class SourceKind(StrEnum):
    """Where a run reads its interval (spec ``source.table`` / ``source.sql`` / ``source.files``)."""

    TABLE = "table"
    SQL = "sql"
    FILES = "files"


class Overlap(StrEnum):
    """What a second attempt does while another owns the interval (spec ``on_overlap``)."""

    FAIL = "fail"
    WAIT = "wait"


class LoadPath(StrEnum):
    """How a run's rows reach the target (spec ``load_path``): ``auto`` reads key ranges of the source
    in the lanes and writes new rows once where the batch allows it (engine.direct); ``landing`` always
    lands the interval first."""

    AUTO = "auto"
    LANDING = "landing"


class RejectStage(StrEnum):
    """The step that quarantined a row (``rejects.stage``)."""

    EXTRACT = "extract"
    LOAD = "load"


class Match(StrEnum):
    """The outcome of one chunk comparison (``reconciliation.status``)."""

    MATCH = "MATCH"
    MISMATCH = "MISMATCH"


class ReconcileScopeKind(StrEnum):
    """What a scheduled reconciliation compares (``reconciliations.scope_kind``)."""

    INTERVALS = "intervals"
    KEYS = "keys"
    TABLE = "table"


class DiffKind(StrEnum):
    """How one row differs between the source and the target (``reconciliation_diffs.kind``)."""

    MISSING = "missing_in_target"
    EXTRA = "extra_in_target"
    CHANGED = "changed"
