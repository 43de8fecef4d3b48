"""What the server can do, as data: one frozen object built from the detected server.

The hook builds it from ``hooks.detect.ServerInfo`` (and the connection's extras); the dialect
reads ``self.caps`` wherever SQL differs between servers, so no flag is threaded through calls.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

#: How a GaussDB upsert is written: ``MERGE INTO`` or openGauss's ``ON DUPLICATE KEY UPDATE``.
UPSERT_STYLES = ("merge", "on_duplicate_key")


@dataclass(frozen=True)
class Capabilities:
    """Server differences the SQL depends on; the defaults are PostgreSQL's grammar on a single node."""

    #: ``FOR UPDATE SKIP LOCKED`` parses (openGauss only from 3.1.0): chunk claims skip locked rows.
    skip_locked: bool = True
    #: COPY may move rows in binary format (both ends must say so; GaussDB's binary header differs
    #: from PostgreSQL's, so GaussDB keeps csv).
    binary_copy: bool = False
    #: '' is NULL on the server (GaussDB compatibility mode A): fingerprints and rejects fold them.
    empty_is_null: bool = False
    #: Tables default to ustore: this project's tables ask for astore (SKIP LOCKED and ON DUPLICATE
    #: KEY UPDATE exist only there).
    astore: bool = False
    #: A distributed cluster: control tables are replicated to every data node.
    distributed: bool = False
    #: Text is checked before a cast to a number: in sql_compatibility B (without dolphin's strict
    #: mode) ``CAST('abc' AS integer)`` is 0 and ``'12x'`` is 12, no error (numutils.cpp).
    check_numbers: bool = False
    #: GaussDB's upsert statement (one of ``UPSERT_STYLES``); PostgreSQL always uses ON CONFLICT.
    upsert_style: str = "merge"

    def __post_init__(self) -> None:
        if self.upsert_style not in UPSERT_STYLES:
            raise ValueError(f"upsert_style must be 'merge' or 'on_duplicate_key', got {self.upsert_style!r}")

    @classmethod
    def for_family(cls, family: str, **options: Any) -> Capabilities:
        """A family's defaults (binary COPY on PostgreSQL only) with ``options`` over them."""
        return replace(cls(binary_copy=family == "postgres"), **options)
