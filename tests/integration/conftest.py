"""Integration-wide guard: no SQL that GaussDB rejects may run in a GaussDB-dialect session.

Tests run against PostgreSQL, which accepts ON CONFLICT and friends, so a dialect bug
would pass silently. Every statement executed through GaussDBHook connections with
dialect_name 'gaussdb' is checked; violations are recorded (so a swallowed statement
error cannot hide them) and fail the test in the fixture's teardown.
"""

from __future__ import annotations

import pytest

from gaussdb_batch.hooks.observe import add_statement_observer, forbidden_gaussdb_constructs

_violations: list[tuple[list[str], str]] = []


def _record_forbidden(sql_text: str, dialect_name: str) -> None:
    if dialect_name == "gaussdb" and (found := forbidden_gaussdb_constructs(sql_text)):
        _violations.append((found, sql_text[:300]))


add_statement_observer(_record_forbidden)


@pytest.fixture(autouse=True)
def forbidden_sql():
    """The list of recorded violations; a test that provokes one on purpose clears it."""
    _violations.clear()
    yield _violations
    if _violations:
        found = "; ".join(f"{names} in {sql!r}" for names, sql in _violations)
        _violations.clear()
        pytest.fail(f"SQL that GaussDB rejects ran with dialect 'gaussdb': {found}", pytrace=False)
