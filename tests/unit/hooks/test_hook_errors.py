"""SQLSTATE classification: which failures the hook retries."""

from __future__ import annotations

import pytest

from gaussdb_batch.hooks.errors import (
    DATA,
    PERMANENT,
    TRANSIENT,
    DataError,
    PermanentDBError,
    TransientDBError,
    classify,
    error_class,
    parse_sqlstate_list,
)


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        *[(code, TRANSIENT) for code in ("08000", "08001", "08003", "08004", "08006")],
        ("40001", TRANSIENT),  # serialization_failure
        ("40P01", TRANSIENT),  # deadlock_detected
        ("55P03", TRANSIENT),  # lock_not_available
        ("57P01", TRANSIENT),  # admin_shutdown (pg_terminate_backend)
        ("57P02", TRANSIENT),
        ("57P03", TRANSIENT),
        ("57014", TRANSIENT),  # query_canceled, statement_timeout included
        ("53300", TRANSIENT),  # too_many_connections
        ("53200", TRANSIENT),  # out_of_memory
        ("XX003", TRANSIENT),
        ("XX009", TRANSIENT),
        *[(f"YY{n:03d}", TRANSIENT) for n in range(1, 17)],  # GaussDB "SQL retry error" class
        ("23505", DATA),  # unique_violation
        ("23502", DATA),  # not_null_violation
        ("23503", DATA),
        ("23514", DATA),
        ("22001", DATA),  # string_data_right_truncation
        ("22P02", DATA),  # invalid_text_representation
        ("22012", DATA),  # division_by_zero
        ("42P01", PERMANENT),  # undefined_table
        ("42601", PERMANENT),  # syntax_error
        ("42501", PERMANENT),  # insufficient_privilege
        ("28P01", PERMANENT),  # invalid_password
        ("XX000", PERMANENT),
        ("08P01", PERMANENT),  # protocol_violation is not in the list
        ("P0003", PERMANENT),  # MERGE with duplicated source keys on GaussDB
        ("21000", PERMANENT),
    ],
)
def test_classification_table(sqlstate, expected):
    assert classify(sqlstate) == expected
    assert classify(sqlstate.lower()) == expected


@pytest.mark.parametrize(
    ("lost", "expected"),
    [(True, TRANSIENT), (False, PERMANENT)],
    ids=["connection-lost-without-code", "no-code"],
)
def test_missing_sqlstate(lost, expected):
    assert classify(None, connection_lost=lost) == expected


def test_the_transient_list_is_configurable():
    custom = parse_sqlstate_list("40001, 40P01;YY")
    assert custom == {"40001", "40P01", "YY"}
    assert classify("57014", transient=custom) == PERMANENT
    assert classify("YY005", transient=custom) == TRANSIENT
    assert parse_sqlstate_list(["57p01"]) == {"57P01"}
    with pytest.raises(ValueError, match="5-character"):
        parse_sqlstate_list(["4000"])


@pytest.mark.parametrize(
    ("kind", "cls"), [(TRANSIENT, TransientDBError), (DATA, DataError), (PERMANENT, PermanentDBError)]
)
def test_error_classes(kind, cls):
    assert error_class(kind) is cls
    err = cls("load chunk 3 of run 9", "23505", condition="unique_violation", where="public.t constraint t_pkey",
              server_message="Key (id)=(42) already exists.")  # fmt: skip
    assert str(err).startswith("load chunk 3 of run 9 failed: SQLSTATE 23505 unique_violation on public.t")
    assert "42" not in str(err)
    assert (err.sqlstate, err.purpose) == ("23505", "load chunk 3 of run 9")
    assert issubclass(DataError, PermanentDBError)
