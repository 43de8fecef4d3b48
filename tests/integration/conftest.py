"""Integration-wide statement guard: nothing openGauss refuses or reads differently may run in a
GaussDB-dialect session.

Tests run against PostgreSQL, which accepts ON CONFLICT, ANALYZE inside a transaction and
friends, so a dialect bug would pass silently. Every statement executed through GaussDBHook
connections with dialect_name 'gaussdb' is checked against the rules of
gaussdb_batch.hooks.observe.GAUSSDB_RULES (with whether it runs inside a transaction block);
violations are recorded (so a swallowed statement error cannot hide them) and fail the test in
the fixture's teardown. Integer division, the one difference the text cannot show, runs under
openGauss's own operators (tests/integration/opengauss_semantics.py).
"""

from __future__ import annotations

import pytest

from gaussdb_batch.hooks.observe import add_session_observer, forbidden_gaussdb_constructs

_violations: list[tuple[list[str], str]] = []


def _record_forbidden(sql_text: str, dialect_name: str, in_transaction: bool) -> None:
    if dialect_name == "gaussdb" and (found := forbidden_gaussdb_constructs(sql_text, in_transaction=in_transaction)):
        _violations.append((found, sql_text[:300]))


add_session_observer(_record_forbidden)


@pytest.fixture(autouse=True)
def forbidden_sql():
    """The list of recorded violations; a test that provokes one on purpose clears it."""
    _violations.clear()
    yield _violations
    if _violations:
        found = "; ".join(f"{names} in {sql!r}" for names, sql in _violations)
        _violations.clear()
        pytest.fail(f"SQL that openGauss refuses or reads differently ran with dialect 'gaussdb': {found}",
                    pytrace=False)
