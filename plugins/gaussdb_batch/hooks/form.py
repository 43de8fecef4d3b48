"""The gaussdb connection form: extra fields with hints, declared once.

Airflow 3.3 builds connection forms from provider metadata (``conn-fields`` and
``ui-field-behaviour``: a label and a JSON schema per field), so gaussdb_batch's
``get_provider_info`` and GaussDBHook's ``get_connection_form_widgets`` /
``get_ui_field_behaviour`` both read these dicts. Plain data: importing it loads
nothing of Airflow. The keys are the extras docs/connection.md documents.
"""

from __future__ import annotations

from typing import Any

from gaussdb_batch.hooks.session import DIALECTS, DRIVER_CHOICES


def _described(description: str, default: Any) -> str:
    return description if default is None else f"{description} Empty: {default}."


# The form carries no defaults: a field left empty is left out of the extra (or saved empty,
# which the hook reads as unset), so the saved extra holds only what the user set and the
# defaults live in one place, the hook (SessionSettings).
def _text(label: str, description: str, default: str | None = None, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": _described(description, default),
            "schema": {"type": ["string", "null"], **schema}}


def _number(label: str, description: str, default: float, kind: str = "integer") -> dict[str, Any]:
    return {"label": label, "description": _described(description, default), "schema": {"type": [kind, "null"]}}


DURATION_PATTERN = r"^(0|\d+(\.\d+)?\s*(us|ms|s|min|h|d))$"
#: Where every extra is explained; the form points there.
DOCS = "docs/connection.md of the gaussdb-batch project"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "driver": _text(
        "Driver",
        "auto (default) asks the server how it authenticates: async_gaussdb for GaussDB's default sha256, "
        f"psycopg2 for md5/SCRAM/trust. psycopg and gaussdb (needs Huawei's libpq) are options. Every extra: {DOCS}.",
        "auto",
        enum=[*DRIVER_CHOICES],
    ),
    "dialect": _text(
        "SQL dialect",
        "Leave empty to detect the server family; gaussdb or postgres to force one.",
        enum=[*DIALECTS],
    ),
    "statement_timeout": _text(
        "Statement timeout", "A duration with a unit ('30min', '90s'); sent in the startup packet.", "30min",
        pattern=DURATION_PATTERN,
    ),  # fmt: skip
    "idle_in_transaction_timeout": _text(
        "Idle-in-transaction timeout",
        "A duration with a unit ('60s'); set after detection where the server has the setting.",
        "60s",
        pattern=DURATION_PATTERN,
    ),
    "session_timeout": _text(
        "GaussDB session_timeout",
        "GaussDB closes idle sessions after this; empty: the task's execution_timeout plus a minute, else 0 (off).",
        pattern=DURATION_PATTERN,
    ),
    "skip_locked": {
        "label": "Claim with SKIP LOCKED",
        "description": "Empty: detected (openGauss before 3.1.0 has no SKIP LOCKED); false forces the claim without it.",
        "schema": {"type": ["boolean", "null"]},
    },
    "upsert_style": _text(
        "GaussDB upsert",
        "merge (MERGE INTO, the default) or on_duplicate_key (INSERT ... ON DUPLICATE KEY UPDATE; astore targets "
        "only; every unique-index column stays out of SET).",
        "merge",
        pattern="^(merge|on_duplicate_key)$",
    ),
    "search_path": _text("search_path", "Comma-separated schema names (validated identifiers)."),
    "application_name": _text(
        "application_name prefix", "Sessions show up as <prefix>:<dag>.<task>[<map_index>].", "gaussdb_batch"
    ),
    "session_setup": _text(
        "Session setup",
        "options: statement_timeout in the startup packet; set: everything by set_config after connect (poolers).",
        "options",
        enum=["options", "set"],
    ),
    "connect_timeout": _number("Connect timeout (s)", "Seconds to wait for a connection.", 10),
    "retry_attempts": _number("Retry attempts", "Attempts of a transaction on transient errors.", 5),
    "retry_max_elapsed": _number("Retry budget (s)", "Give up retrying after this many seconds.", 120.0, "number"),
    "retry_initial_delay": _number("First retry delay (s)", "Jittered exponential backoff starts here.", 0.5, "number"),
    "retry_max_delay": _number("Longest retry delay (s)", "Backoff ceiling.", 15.0, "number"),
    "retry_sqlstates": _text("Transient SQLSTATEs", "Comma-separated codes or 2-character classes; empty: the defaults."),
    "sslmode": _text(
        "sslmode", "disable, allow, prefer, require, verify-ca or verify-full (libpq's meaning).",
        enum=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
    ),  # fmt: skip
    "sslrootcert": _text("sslrootcert", "Path of the CA certificate file on the worker."),
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden_fields": [],
    "relabeling": {"schema": "Database", "login": "User"},
    "placeholders": {
        "host": "gaussdb.example.internal",
        "port": "5432 (openGauss images often use 5432, GaussDB instances 8000)",
        "schema": "postgres",
        "extra": f'{{"driver": "auto", "statement_timeout": 1800}}  (every extra: {DOCS})',
    },
}


def provider_ui_behaviour() -> dict[str, Any]:
    """``ui-field-behaviour`` in provider-metadata spelling (kebab-case keys)."""
    return {
        "hidden-fields": UI_FIELD_BEHAVIOUR["hidden_fields"],
        "relabeling": UI_FIELD_BEHAVIOUR["relabeling"],
        "placeholders": UI_FIELD_BEHAVIOUR["placeholders"],
    }
