"""Turn driver exceptions into classified errors, and retry transactions on transient ones.

The unit of retry is a whole transaction: a transient error rolls everything back, so
running ``fn`` again cannot double-apply work. A connection lost during COMMIT is the
one ambiguous case (the commit may have happened); callers make ``fn`` converge on
committed state (the engine re-checks the chunk's state inside ``fn``).
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from gaussdb_batch.hooks.drivers import driver_of_exception
from gaussdb_batch.hooks.errors import (
    DEFAULT_TRANSIENT_SQLSTATES,
    PERMANENT,
    GaussDBError,
    TransientDBError,
    classify,
    error_class,
)

if TYPE_CHECKING:
    from gaussdb_batch.hooks.session import RetryPolicy

T = TypeVar("T")
log = logging.getLogger(__name__)

# Connection failures libpq reports without a SQLSTATE that no retry can fix.
_HOPELESS_CONNECT = re.compile(
    r"authentication failed|password|no pg_hba\.conf entry|does not exist|permission denied|"
    r"SASL|SCRAM|sslmode|certificate|invalid connection option|could not translate host name",
    re.IGNORECASE,
)


def _condition_name(sqlstate: str | None) -> str | None:
    if not sqlstate:
        return None
    from psycopg2 import errorcodes

    try:
        return errorcodes.lookup(sqlstate).lower()
    except KeyError:
        return None


def to_db_error(
    exc: BaseException,
    *,
    purpose: str,
    attempts: int = 1,
    transient: frozenset[str] = DEFAULT_TRANSIENT_SQLSTATES,
    column_names: bool = True,
) -> GaussDBError | None:
    """A classified GaussDBError for a driver exception; None for anything else.

    Only SQLSTATE, condition name and object names reach the message: DETAIL lines and
    class 22 messages quote row values. ``column_names=False`` for GaussDB / openGauss servers:
    they send an internal error code in protocol field 'c' (postgres_ext.h, elog.cpp), which is
    PostgreSQL's column name field, so drivers report numbers such as 10636 as the column.
    """
    if isinstance(exc, GaussDBError):
        return exc
    driver = driver_of_exception(exc)
    if driver is None:
        return None
    sqlstate = driver.sqlstate(exc)
    lost = driver.connection_lost(exc)
    kind = classify(sqlstate, connection_lost=lost, transient=transient)
    if lost and _HOPELESS_CONNECT.search(str(exc)):
        kind = PERMANENT
    diag = driver.diag(exc)
    names = [str(diag[k]) for k in ("schema_name", "table_name") if diag[k]]
    where = ".".join(names) or None
    for key in ("column_name", "constraint_name") if column_names else ("constraint_name",):
        if diag[key]:
            where = f"{where or ''} {key.split('_')[0]} {diag[key]}".strip()
    return error_class(kind)(
        purpose,
        sqlstate,
        condition=_condition_name(sqlstate),
        where=where,
        attempts=attempts,
        server_message=diag["message_primary"],
        original=exc,
    )


def backoff_delay(policy: RetryPolicy, attempt: int) -> float:
    """Equal-jitter exponential backoff: half fixed, half random, capped at max_delay."""
    ceiling = min(policy.max_delay, policy.initial_delay * (2 ** (attempt - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def run_with_retries(
    fn: Callable[[Any], T],
    *,
    purpose: str,
    policy: RetryPolicy,
    acquire: Callable[[], Any],
    release_after_error: Callable[[], None],
    column_names: Callable[[], bool] = lambda: True,
) -> T:
    """Run ``fn(conn)`` in one transaction on ``acquire()``'s session and commit, retrying transients.

    ``column_names()`` says whether the server's column field names columns (see to_db_error)."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        try:
            conn = acquire()
            result = fn(conn)
            conn.commit()
            return result
        except Exception as exc:
            release_after_error()
            err = to_db_error(exc, purpose=purpose, attempts=attempt, transient=policy.transient_sqlstates,
                              column_names=column_names())
            if err is None:
                raise
            if not isinstance(err, TransientDBError):
                raise err from None
            delay = backoff_delay(policy, attempt)
            if attempt >= policy.attempts or time.monotonic() - started + delay > policy.max_elapsed:
                raise err from None
            log.warning(
                "%s: transient error SQLSTATE %s on attempt %s of %s; rolled back, retrying in %.2fs",
                purpose, err.sqlstate or "none (connection lost)", attempt, policy.attempts, delay,
            )  # fmt: skip
            time.sleep(delay)
