"""The dialect: every stage's SQL composed into one class per server family.

This package is the one place that writes SQL text: no SQL anywhere else, enforced by
tests/unit/test_sql_location.py. Each stage's statements are a mixin in a module of their
own (catalog, runs, landing, chunks, writes, row_hash, checks, compensation, reconciliation and
its repair, the control schema, adaptive scheduling and the Batches page's reads); ``Dialect`` composes them and holds
what one dialect is: its server's ``Capabilities`` and the target and landing it is narrowed to.

Everything is plain ``str`` SQL with ``%(name)s`` placeholders, valid for both psycopg2 and the
psycopg 3 family. Identifiers are validated and double-quoted; values are always bound, never
pasted. Subclasses (gaussdb.py, postgres.py) override only what differs; differences between
servers of one family are data (``self.caps``), not subclasses.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from gaussdb_batch.dialects.adaptive_sql import AdaptiveSQL
from gaussdb_batch.dialects.capabilities import Capabilities
from gaussdb_batch.dialects.catalog import CatalogSQL
from gaussdb_batch.dialects.checks import ChecksSQL
from gaussdb_batch.dialects.chunks import ChunksSQL
from gaussdb_batch.dialects.compensation import CompensationSQL
from gaussdb_batch.dialects.control_schema import ControlSchemaDDL
from gaussdb_batch.dialects.direct import DirectSQL
from gaussdb_batch.dialects.core import SEQ, UNDO_CHUNK, UNDO_OP, UNDO_RUN, Column, base_type
from gaussdb_batch.dialects.landing import LandingSQL
from gaussdb_batch.dialects.reconciliation import ReconciliationSQL
from gaussdb_batch.dialects.repair import RepairSQL
from gaussdb_batch.dialects.row_hash import NULL_TERM
from gaussdb_batch.dialects.runs import RunsSQL
from gaussdb_batch.dialects.ui_reads import UIReads
from gaussdb_batch.dialects.writes import WritesSQL

__all__ = ["SEQ", "UNDO_RUN", "UNDO_CHUNK", "UNDO_OP", "NULL_TERM", "Capabilities", "Column", "Dialect", "base_type"]


class Dialect(CatalogSQL, RunsSQL, LandingSQL, ChunksSQL, WritesSQL, DirectSQL, ChecksSQL, CompensationSQL, ReconciliationSQL,
              RepairSQL, ControlSchemaDDL, AdaptiveSQL, UIReads):
    """Base dialect: the common subset of PostgreSQL and GaussDB/openGauss, one stage per mixin.

    The one place that writes SQL (with its package): no SQL anywhere else, enforced by
    tests/unit/test_sql_location.py. Server differences are ``caps`` (``Capabilities``, built by
    the hook from the detected server); ``for_target`` and ``for_landing`` narrow a dialect to one
    target's distribution and one landing's layout.
    """

    name = "base"
    #: The upsert must know every column of the target's primary key and unique indexes.
    needs_unique_columns = False

    def __init__(self, capabilities: Capabilities | None = None, *, distribute_by: Sequence[str] | None = None):
        self.caps = capabilities if capabilities is not None else Capabilities.for_family(self.name)
        self.distribute_by = list(distribute_by or [])
        self.unique_columns = []

    def for_target(self, distribute_by: Sequence[str], unique_columns: Sequence[str] = ()) -> Dialect:
        """This dialect for one target: its distribution key and (when the upsert needs them) the
        columns of its unique indexes. Itself when neither differs."""
        if list(distribute_by) == self.distribute_by and list(unique_columns) == self.unique_columns:
            return self
        other = copy.copy(self)
        other.distribute_by = list(distribute_by)
        other.unique_columns = list(unique_columns)
        return other

    def for_landing(self, typed: bool) -> Dialect:
        """This dialect for a landing table of the target's types (``typed``) or of text columns."""
        if bool(typed) == self.typed_landing:
            return self
        other = copy.copy(self)
        other.typed_landing = bool(typed)
        return other
