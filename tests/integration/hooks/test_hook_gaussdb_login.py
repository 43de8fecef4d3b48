"""Logging in to a GaussDB as it is installed: sha256 without libpq, driver auto, SM3, startup packets.

The sha256 side of each login is tests/gauss_auth_server.py (written from the openGauss
sources); once a client has proved its password it relays to the local PostgreSQL.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from contextlib import closing

import psycopg2
import pytest

from airflow.sdk import Connection
from gaussdb_batch.hooks import auth
from gaussdb_batch.hooks.errors import PermanentDBError
from gaussdb_batch.hooks.gaussdb import GaussDBHook
from tests.gauss_auth_server import GaussAuthServer, sha256_proof_ok, sha256_verifier

GAUSS_PASSWORD = "Gauss_Pw#2024"  # complex, as openGauss demands
WRONG_PASSWORD = "Not-The-Pw#7731"
#: What every server family and version accepts in a startup packet.
STARTUP_SAFE = {"user", "database", "application_name", "statement_timeout", "client_encoding", "options"}


@pytest.fixture(autouse=True)
def _fresh_auth_cache():
    auth.reset_cache()
    yield
    auth.reset_cache()


@pytest.fixture
def gauss_server(pg_env):
    """A server asking for ``method`` (sha256 by default) in front of the local PostgreSQL."""
    servers: list[GaussAuthServer] = []

    def start(method: str = "sha256", iterations: int = 10000) -> GaussAuthServer:
        server = GaussAuthServer(
            password=GAUSS_PASSWORD,
            upstream=(pg_env["GAUSSDB_BATCH_PG_HOST"], int(pg_env["GAUSSDB_BATCH_PG_PORT"])),
            upstream_user=pg_env["GAUSSDB_BATCH_PG_MD5_USER"],
            upstream_password=pg_env["GAUSSDB_BATCH_PG_PASSWORD"],
            method=method,
            iterations=iterations,
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hook_at():
    made: list[GaussDBHook] = []

    def make(port: int, *, password: str = GAUSS_PASSWORD, login: str = "gaussdb", host: str = "127.0.0.1",
             **extra) -> GaussDBHook:  # fmt: skip
        conn = Connection(
            conn_id=f"gauss_{uuid.uuid4().hex[:6]}", conn_type="gaussdb", host=host, port=port,
            login=login, password=password, schema="gbtarget",
            extra=json.dumps({"retry_initial_delay": 0.05, "retry_max_delay": 0.2, **extra}),
        )  # fmt: skip
        hook = GaussDBHook(connection=conn)
        made.append(hook)
        return hook

    yield make
    for hook in made:
        hook.close()


def test_the_test_server_checks_proofs_as_opengauss_does():
    """The verifier itself: fe-auth.cpp's proof passes crypt.cpp's check; any other fails."""
    import hashlib
    import hmac

    salt, token = bytes(range(32)), b"\x01\x02\x03\x04"
    stored_key, _ = sha256_verifier("Secret#1", salt)
    k = hashlib.pbkdf2_hmac("sha1", b"Secret#1", salt, 10000, 32)
    client_key = hmac.new(k, b"Client Key", hashlib.sha256).digest()
    signature = hmac.new(stored_key, token, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(signature, client_key)).hex()
    assert sha256_proof_ok(proof, stored_key, token)
    assert not sha256_proof_ok(proof, stored_key, b"\x01\x02\x03\x05")
    assert not sha256_proof_ok("00" * 32, stored_key, token)


def test_sha256_login_without_libpq_then_everything_works(gauss_server, hook_at, scratch_schema):
    server = gauss_server()
    hook = hook_at(server.port, driver="async_gaussdb")
    assert hook.get_first("SELECT session_user, current_user, 41 + 1") == (
        "gaussdb_batch_md5", "gaussdb_batch", 42
    )  # fmt: skip
    login = server.logins[0]
    assert (login.method, login.protocol, login.ok) == ("sha256", (3, 51), True)
    table = f'"{scratch_schema}".t'

    def load(conn) -> int:
        with conn.cursor() as cur:
            cur.execute(f"CREATE TABLE {table} (id int, v text)")
            hook.driver.copy_in(cur, f"COPY {table} FROM STDIN", b"1\ta\n2\tb\n")
            sink = io.BytesIO()
            hook.driver.copy_out(cur, f"COPY {table} TO STDOUT", sink)
            assert sink.getvalue() == b"1\ta\n2\tb\n"
            cur.execute(f"SELECT count(*) FROM {table} WHERE v = %(v)s", {"v": "b"})
            return cur.fetchone()[0]

    assert hook.run_in_transaction(load, purpose="load through sha256") == 1


def test_wrong_password_is_refused_clearly_and_never_printed(gauss_server, hook_at, caplog, capfd):
    server = gauss_server()
    hook = hook_at(server.port, password=WRONG_PASSWORD, driver="async_gaussdb")
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG), pytest.raises(PermanentDBError) as caught:
        hook.run_in_transaction(lambda conn: None, purpose="connect to gaussdb")
    logging.getLogger("gaussdb_batch.test").exception("login failed")
    assert time.monotonic() - started < 5
    err = caught.value
    assert (err.sqlstate, err.attempts) == ("28P01", 1)
    assert "connect to gaussdb failed: SQLSTATE 28P01 invalid_password" in str(err)
    assert err.server_message == "Invalid username/password,login denied."
    assert [(login.method, login.ok) for login in server.logins] == [("sha256", False)]
    out, errout = capfd.readouterr()
    for text in (str(err), repr(err), caplog.text, out, errout):
        assert WRONG_PASSWORD not in text and GAUSS_PASSWORD not in text


def test_driver_auto_picks_async_gaussdb_for_sha256(gauss_server, hook_at):
    server = gauss_server()
    hook = hook_at(server.port)  # no driver extra: auto
    assert hook.settings.driver == "auto"
    assert hook.driver.name == "async_gaussdb"
    assert hook.get_first("SELECT 1") == (1,)
    # the probe hung up after the request: it sent no password (ok stays None)
    assert [(login.method, login.ok) for login in server.logins] == [("sha256", None), ("sha256", True)]


def test_driver_auto_picks_libpq_for_md5_and_scram(pg_env, hook_at, superuser):
    port = int(pg_env["GAUSSDB_BATCH_PG_PORT"])
    md5 = hook_at(port, login=pg_env["GAUSSDB_BATCH_PG_MD5_USER"], password=pg_env["GAUSSDB_BATCH_PG_PASSWORD"])
    assert md5.driver.name == "psycopg2"
    role, password = f"gb_scram_{uuid.uuid4().hex[:6]}", "Scram#Pw-42"
    with superuser.cursor() as cur:
        cur.execute("SET password_encryption = 'scram-sha-256'")
        cur.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", (password,))
    try:
        assert auth.probe_auth("127.0.0.1", port, role, "gbtarget").method == "scram"
        scram = hook_at(port, login=role, password=password)
        assert scram.driver.name == "psycopg2"
        assert scram.get_first("SELECT current_user")[0] == role
        scram.close()
    finally:
        with superuser.cursor() as cur:
            cur.execute(f"DROP ROLE {role}")


def test_sm3_is_refused_with_what_the_dba_must_change(gauss_server, hook_at):
    server = gauss_server("sm3")
    hook = hook_at(server.port)
    with pytest.raises(auth.UnsupportedAuthError) as caught:
        hook.get_conn()
    text = str(caught.value)
    assert "SM3" in text and "no Python driver supports SM3" in text
    assert "password_encryption_type = 2" in text and "ALTER USER gaussdb PASSWORD" in text
    assert GAUSS_PASSWORD not in text


@pytest.mark.parametrize(("method", "driver"), [("sha256", "async_gaussdb"), ("md5", "psycopg2"), ("md5", "psycopg")])
def test_startup_packet_carries_only_what_every_server_accepts(gauss_server, hook_at, method, driver):
    server = gauss_server(method)
    hook = hook_at(server.port, driver=driver, dialect="gaussdb", search_path=["public"], idle_in_transaction_timeout=45)
    with closing(hook.get_conn()) as conn, conn.cursor() as cur:
        cur.execute("SHOW idle_in_transaction_session_timeout")
        assert cur.fetchone()[0] == "45s"  # set after detection, not at startup
    params = server.logins[0].params
    assert set(params) <= STARTUP_SAFE, params
    assert params["application_name"] == "gaussdb_batch"
    startup_settings = params.get("options", "") + params.get("statement_timeout", "")
    assert "30min" in startup_settings
    for later in ("idle_in_transaction", "search_path", "session_timeout"):
        assert later not in json.dumps(params)


def test_an_unknown_startup_setting_is_fatal_so_optional_ones_wait(target_dsn):
    """Why idle_in_transaction_session_timeout and session_timeout never go in the startup packet."""
    with pytest.raises(psycopg2.OperationalError, match='unrecognized configuration parameter "session_timeout"'):
        psycopg2.connect(target_dsn, options="-c session_timeout=0").close()


def test_settings_the_server_lacks_are_skipped(make_hook, driver, scratch_schema, target_dsn):
    """A server detected as GaussDB that has no session_timeout (here: PostgreSQL) still connects."""
    with psycopg2.connect(target_dsn) as conn, conn.cursor() as cur:
        cur.execute(
            f'CREATE FUNCTION "{scratch_schema}".opengauss_version() RETURNS text '
            "LANGUAGE sql AS $$ SELECT '3.0.0' $$"
        )
    conn.close()
    hook = make_hook(driver=driver, search_path=[scratch_schema])
    assert hook.server_info.family == "gaussdb"
    assert hook.server_info.settings == {"idle_in_transaction_session_timeout"}
    assert hook.get_first("SHOW idle_in_transaction_session_timeout") == ("1min",)


# -- iteration counts and the password message (issue 25, item 7) ---------------------------
@pytest.mark.parametrize("iterations", [2048, 10000, 100000, 1000000])
def test_sha256_login_honours_the_servers_iteration_count(gauss_server, hook_at, iterations):
    """auth_iteration_count may be 2048..134217728; the proof must use the count the server sends."""
    server = gauss_server(iterations=iterations)
    hook = hook_at(server.port, driver="async_gaussdb")
    assert hook.get_first("SELECT 41 + 1") == (42,)
    [login] = server.logins
    assert (login.ok, login.password_messages) == (True, 1)
    assert login.complaints == []  # the proof ends with the NUL auth.cpp expects


def test_the_derived_key_is_reused_by_the_next_login(gauss_server, hook_at):
    """PBKDF2 runs once per process and (password, salt, count): the role's salt does not change."""
    server = gauss_server(iterations=2_000_000)
    timings = []
    for _ in range(2):
        hook = hook_at(server.port, driver="async_gaussdb")
        started = time.monotonic()
        hook.get_conn().close()
        timings.append(time.monotonic() - started)
    assert [login.ok for login in server.logins] == [True, True]
    assert timings[1] < timings[0] / 3, timings


@pytest.mark.parametrize("iterations", [1000, 134217729, -1])
def test_no_proof_is_sent_when_the_count_cannot_be_honoured(gauss_server, hook_at, iterations):
    """A count openGauss cannot have is refused before answering: no wrong password, no lockout."""
    from gaussdb_batch.hooks.agdb_login import ChallengeRefused

    server = gauss_server(iterations=iterations)
    hook = hook_at(server.port, driver="async_gaussdb")
    started = time.monotonic()
    with pytest.raises(ChallengeRefused, match=rf"{iterations} PBKDF2 iterations.*auth_iteration_count") as caught:
        hook.run_in_transaction(lambda conn: None, purpose="connect to gaussdb")
    assert time.monotonic() - started < 5  # refused at once, never retried
    assert GAUSS_PASSWORD not in str(caught.value)
    assert [(login.ok, login.password_messages) for login in server.logins] == [(None, 0)]


@pytest.mark.parametrize(("sslmode", "asked"), [(None, True), ("prefer", True), ("disable", False)])
@pytest.mark.parametrize("method", ["sha256", "md5"])
def test_driver_auto_probes_with_the_ssl_choice_of_the_driver(gauss_server, hook_at, monkeypatch, sslmode, asked,
                                                              method):  # fmt: skip
    """pg_hba.conf may answer SSL and plain sessions differently: the probe asks as the driver does."""
    monkeypatch.delenv("PGSSLMODE", raising=False)
    monkeypatch.delenv("GAUSSDBSSLMODE", raising=False)
    server = gauss_server(method)
    hook = hook_at(server.port, **({"sslmode": sslmode} if sslmode else {}))
    assert hook.get_first("SELECT 1") == (1,)
    probe, session = server.logins
    assert probe.ok is None and session.ok is True
    assert (probe.asked_ssl, session.asked_ssl) == (asked, asked)


# -- SQLAlchemy: URLs and engines that log in as the hook does (issue 25, item 2) ---------------
def test_get_uri_logs_in_with_the_hooks_driver_on_a_sha256_server(gauss_server, hook_at):
    """A libpq URL cannot answer sha256; the URL names the driver that can."""
    from sqlalchemy import create_engine, text

    server = gauss_server(iterations=4096)
    hook = hook_at(server.port, sslmode="prefer")
    uri = hook.get_uri()
    assert uri.startswith("postgresql+gaussdb_batch://gaussdb:") and "driver=async_gaussdb" in uri
    assert "sslmode=prefer" in uri
    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT :a + 1"), {"a": 41}).scalar() == 42
    finally:
        engine.dispose()
    assert [login.ok for login in server.logins if login.password_messages] == [True]


def test_get_uri_of_a_libpq_driver_is_its_own_dialect(pg_env, hook_at):
    port = int(pg_env["GAUSSDB_BATCH_PG_PORT"])
    hook = hook_at(port, login=pg_env["GAUSSDB_BATCH_PG_MD5_USER"], password=pg_env["GAUSSDB_BATCH_PG_PASSWORD"],
                   driver="psycopg")  # fmt: skip
    assert hook.get_uri().startswith("postgresql+psycopg://")


def test_the_sqlalchemy_engine_runs_on_the_hooks_sessions(gauss_server, hook_at, scratch_schema):
    import pandas as pd

    server = gauss_server()
    hook = hook_at(server.port, search_path=[scratch_schema, "public"], statement_timeout="7min")
    engine = hook.get_sqlalchemy_engine()
    try:
        df = pd.read_sql("SELECT current_setting('search_path') AS sp, current_setting('statement_timeout') AS st, "
                         "current_setting('application_name') AS app", engine)  # fmt: skip
    finally:
        engine.dispose()
    assert df.to_dict("records") == [{"sp": f'"{scratch_schema}","public"', "st": "7min", "app": "gaussdb_batch"}]


@pytest.mark.parametrize(("iterations", "logs_in"), [(2048, False), (10000, True)])
def test_without_the_login_fix_only_the_count_the_library_uses_is_answered(gauss_server, hook_at, monkeypatch,
                                                                          iterations, logs_in):  # fmt: skip
    """Should agdb_login not fit a future async_gaussdb, the server's count is read first: no wrong proof."""
    import async_gaussdb.protocol as agp

    from gaussdb_batch.hooks import agdb
    from gaussdb_batch.hooks.agdb_login import ChallengeRefused

    monkeypatch.setattr(agp, "Protocol", agp.Protocol.__mro__[1])  # the library's own protocol class
    monkeypatch.setattr(agdb, "SHA256_LOGIN", False)
    server = gauss_server(iterations=iterations)
    hook = hook_at(server.port, driver="async_gaussdb")
    if logs_in:
        assert hook.get_first("SELECT 1") == (1,)
        assert [login.ok for login in server.logins if login.password_messages] == [True]
    else:
        with pytest.raises(ChallengeRefused, match="2048 PBKDF2 iterations.*auth_iteration_count = 10000"):
            hook.get_conn()
        assert [login.password_messages for login in server.logins] == [0]  # the probe only
