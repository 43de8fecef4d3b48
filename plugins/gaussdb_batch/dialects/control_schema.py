"""DDL of the control schema, as Dialect methods: its tables and the migrations that build them.

``ensure_control_schema`` (engine/control.py) creates ``schema_version``, reads the applied
version and runs each newer migration in order. An upgrade appends a migration; nothing is
ever dropped or edited, so every existing control schema reaches the same state. All of it
is in the GaussDB subset.
"""

from __future__ import annotations

from gaussdb_batch.identifiers import quote_ident


class ControlSchemaDDL:
    """Mixin of ``Dialect``: the control schema's versioned DDL."""

    def control_table_clause(self) -> str:  # the Dialect's: astore / replicated where the server needs it
        return ""

    def schema_version_ddl(self, schema: str) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.schema_version ("
            " version integer PRIMARY KEY, description varchar(200) NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ) + self.control_table_clause()

    def control_migrations(self, schema: str) -> list[tuple[int, str, list[str]]]:
        """Ordered migrations of the control schema: (version, description, statements).

        Upgrades append a migration; nothing is ever dropped. Valid in the GaussDB subset; each
        CREATE TABLE ends with the server's ``control_table_clause`` (astore, replication).
        """
        migrations = [
            (1, "runs, chunks, rejects, reconciliation", self._control_v1(schema)),
            (2, "batch_state (adaptive period, chunk size), quality_results", self._control_v2(schema)),
            (3, "run ownership: owning DAG run and lease", self._control_v3(schema)),
            (4, "chunk fingerprints of the landing, computed once at plan time", self._control_v4(schema)),
            (5, "fingerprints hash typed values: forget landing fingerprints of the text-row hash", self._control_v5(schema)),
            (6, "fingerprints without blind spots: forget landing fingerprints of the folding hash", self._control_v5(schema)),
            (7, "scheduled reconciliation: reconciliations, reconciliation_diffs", self._control_v7(schema)),
            (8, "repair runs: runs.repair_of, reconciliations.repair_run_id", self._control_v8(schema)),
            (9, "direct chunks: chunks.key_from, key_to (a range of the first key), way (how it was written)", self._control_v9(schema)),
        ]
        tail = self.control_table_clause()
        return [(v, text, [sql + tail if sql.startswith("CREATE TABLE") else sql for sql in statements])
                for v, text, statements in migrations]

    def _control_v9(self, schema: str) -> list[str]:
        s = quote_ident(schema)
        return [
            f"ALTER TABLE {s}.chunks ADD COLUMN key_from bigint",
            f"ALTER TABLE {s}.chunks ADD COLUMN key_to bigint",
            f"ALTER TABLE {s}.chunks ADD COLUMN way varchar(16)",
        ]

    def _control_v8(self, schema: str) -> list[str]:
        s = quote_ident(schema)
        return [
            f"ALTER TABLE {s}.runs ADD COLUMN repair_of bigint",
            f"ALTER TABLE {s}.reconciliations ADD COLUMN repair_run_id bigint",
        ]

    def _control_v7(self, schema: str) -> list[str]:
        s = quote_ident(schema)
        return [
            f"CREATE TABLE IF NOT EXISTS {s}.reconciliations ("
            " recon_id bigserial PRIMARY KEY,"
            " batch varchar(128) NOT NULL,"
            " scope_kind varchar(16) NOT NULL,"
            " scope_start timestamptz,"
            " scope_end timestamptz,"
            " key_lo text,"
            " key_hi text,"
            " mode varchar(16) NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT now(),"
            " finished_at timestamptz,"
            " source_rows bigint,"
            " target_rows bigint,"
            " ranges_compared integer,"
            " missing bigint,"
            " extra bigint,"
            " changed bigint,"
            " bytes_fetched bigint,"
            " status varchar(16))",
            f"CREATE INDEX reconciliations_batch_idx ON {s}.reconciliations (batch, recon_id)",
            f"CREATE TABLE IF NOT EXISTS {s}.reconciliation_diffs ("
            " diff_no bigserial PRIMARY KEY,"
            " recon_id bigint NOT NULL,"
            " key_text text NOT NULL,"
            " kind varchar(24) NOT NULL,"
            " source_digest varchar(32),"
            " target_digest varchar(32),"
            " checked_at timestamptz NOT NULL DEFAULT now())",
            f"CREATE INDEX reconciliation_diffs_recon_idx ON {s}.reconciliation_diffs (recon_id, diff_no)",
        ]

    def _control_v5(self, schema: str) -> list[str]:
        # Stored by a version with another row hash (v5: the row's text; v6: the folding typed hash):
        # the check recomputes them from the landing.
        s = quote_ident(schema)
        return [f"UPDATE {s}.chunks SET land_rows = NULL, land_hash = NULL WHERE land_rows IS NOT NULL"]

    def _control_v4(self, schema: str) -> list[str]:
        s = quote_ident(schema)
        return [
            f"ALTER TABLE {s}.chunks ADD COLUMN land_rows bigint",
            f"ALTER TABLE {s}.chunks ADD COLUMN land_hash numeric",
        ]

    def _control_v3(self, schema: str) -> list[str]:
        s = quote_ident(schema)
        return [
            f"ALTER TABLE {s}.runs ADD COLUMN owner_dag_id varchar(250)",
            f"ALTER TABLE {s}.runs ADD COLUMN lease_until timestamptz",
            f"ALTER TABLE {s}.runs ADD COLUMN lease_seconds integer",
        ]

    def _control_v2(self, schema: str) -> list[str]:
        return [
            f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.batch_state ("
            " batch varchar(128) PRIMARY KEY,"
            " period_seconds double precision,"
            " chunk_rows integer,"
            " watermark text,"
            " backlog bigint,"
            " updated_at timestamptz NOT NULL DEFAULT now())",
            f"CREATE TABLE IF NOT EXISTS {quote_ident(schema)}.quality_results ("
            " run_id bigint NOT NULL,"
            " suite varchar(200) NOT NULL,"
            " success boolean NOT NULL,"
            " evaluated integer,"
            " failed integer,"
            " result text,"
            " checked_at timestamptz NOT NULL DEFAULT now())",
        ]

    def _control_v1(self, schema: str) -> list[str]:
        s = quote_ident(schema)
        return [
            f"CREATE TABLE IF NOT EXISTS {s}.runs ("
            " run_id bigserial PRIMARY KEY,"
            " batch varchar(128) NOT NULL,"
            " interval_start timestamptz NOT NULL,"
            " interval_end timestamptz NOT NULL,"
            " attempt integer NOT NULL,"
            " status varchar(16) NOT NULL,"
            " dag_run_id varchar(250),"
            " target_table varchar(200) NOT NULL,"
            " mode varchar(16) NOT NULL,"
            " rows_extracted bigint,"
            " rows_loaded bigint,"
            " rows_rejected bigint,"
            " chunks_total integer,"
            " started_at timestamptz NOT NULL DEFAULT now(),"
            " extracted_at timestamptz,"
            " finished_at timestamptz,"
            " message text,"
            " purged_at timestamptz,"
            " UNIQUE (batch, interval_start, interval_end, attempt))",
            f"CREATE TABLE IF NOT EXISTS {s}.chunks ("
            " run_id bigint NOT NULL,"
            " chunk_no integer NOT NULL,"
            " seq_lo bigint NOT NULL,"
            " seq_hi bigint NOT NULL,"
            " key_lo text,"
            " key_hi text,"
            " status varchar(16) NOT NULL,"
            " rows_in integer,"
            " rows_written integer,"
            " rows_inserted integer,"
            " rows_updated integer,"
            " rows_rejected integer,"
            " lane integer,"
            " loads integer NOT NULL DEFAULT 0,"
            " started_at timestamptz,"
            " finished_at timestamptz,"
            " PRIMARY KEY (run_id, chunk_no))",
            f"CREATE TABLE IF NOT EXISTS {s}.rejects ("
            " run_id bigint NOT NULL,"
            " chunk_no integer,"
            " seq bigint,"
            " stage varchar(16) NOT NULL,"
            " key_text text,"
            " row_text text,"
            " sqlstate varchar(5),"
            " message text,"
            " rejected_at timestamptz NOT NULL DEFAULT now())",
            f"CREATE INDEX rejects_run_idx ON {s}.rejects (run_id, seq)",
            f"CREATE TABLE IF NOT EXISTS {s}.reconciliation ("
            " run_id bigint NOT NULL,"
            " chunk_no integer NOT NULL,"
            " pass integer NOT NULL,"
            " key_lo text,"
            " key_hi text,"
            " source_rows bigint NOT NULL,"
            " target_rows bigint NOT NULL,"
            " source_hash numeric NOT NULL,"
            " target_hash numeric NOT NULL,"
            " status varchar(16) NOT NULL,"
            " checked_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (run_id, chunk_no, pass))",
        ]

    def schema_version_sql(self, schema: str) -> str:
        return f"SELECT coalesce(max(version), 0) FROM {quote_ident(schema)}.schema_version"

    def record_schema_version_sql(self, schema: str) -> str:
        return (
            f"INSERT INTO {quote_ident(schema)}.schema_version (version, description)"
            " VALUES (%(version)s, %(description)s)"
        )
