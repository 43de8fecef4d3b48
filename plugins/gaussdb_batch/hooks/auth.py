"""``driver: auto``: ask the server which password exchange it wants, then pick the driver.

GaussDB / openGauss answer a startup packet with an authentication request whose code
says it all (openGauss src/include/libpq/pqcomm.h): 10 is openGauss's sha256 exchange
(and PostgreSQL's SASL/SCRAM: the payload tells them apart), 11 md5 over a sha256-stored
password, 13 SM3. Stock libpq answers md5, SCRAM and cleartext; only ``async_gaussdb``
answers sha256; nothing in Python answers SM3 or code 11.

The probe sends a startup packet (protocol 3.51, like openGauss's own clients), reads
the first request and hangs up without answering: no password leaves the process. It
asks for SSL exactly as the drivers do (``effective_sslmode``: the ``sslmode`` extra, else
libpq's default ``prefer``), because pg_hba.conf may ask ``hostssl`` and ``host`` sessions
for different exchanges; the hook hands the same sslmode to the driver it picks.
openGauss counts only wrong passwords towards an account lock, not a client leaving
(auth.cpp, ``status != STATUS_EOF``), but it may write an audit record per probe; the
answer is cached per process and server, and a fixed ``driver`` extra skips the probe.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import threading
from dataclasses import dataclass

PROTOCOL_3_51 = (3 << 16) | 51
SSL_REQUEST = 80877103

AUTH_OK, AUTH_PASSWORD, AUTH_MD5, AUTH_GSS, AUTH_SSPI = 0, 3, 5, 7, 9
AUTH_SHA256_OR_SASL, AUTH_MD5_SHA256, AUTH_SHA256_RFC, AUTH_SM3 = 10, 11, 12, 13
#: openGauss password_stored_method values in a code-10 request (sha2.h).
PLAIN_PASSWORD, MD5_PASSWORD, SHA256_PASSWORD, SM3_PASSWORD = 0, 1, 2, 3

#: Which driver answers which exchange.
LIBPQ_DRIVER = "psycopg2"
SHA256_DRIVER = "async_gaussdb"


class UnsupportedAuthError(RuntimeError):
    """The server asks for a password exchange no installed Python driver can answer."""


@dataclass(frozen=True)
class AuthProbe:
    """What the server asked for: ``method`` names it, ``code`` is the request code (None on error)."""

    method: str
    code: int | None = None
    detail: str = ""
    #: The PBKDF2 iteration count of a sha256 request (protocol 3.51 carries it), else None.
    iterations: int | None = None


def _read_exact(sock: socket.socket | ssl.SSLSocket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection during the authentication probe")
        data += chunk
    return data


def _error_fields(body: bytes) -> dict[str, str]:
    fields = {}
    for part in body.split(b"\x00"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


def _classify(code: int, payload: bytes) -> AuthProbe:
    if code == AUTH_OK:
        return AuthProbe("trust", code)
    if code == AUTH_PASSWORD:
        return AuthProbe("password", code)
    if code == AUTH_MD5:
        return AuthProbe("md5", code)
    if code == AUTH_SHA256_OR_SASL:
        if payload[:1].isalpha():  # PostgreSQL: a list of SASL mechanism names
            return AuthProbe("scram", code, payload.split(b"\x00")[0].decode("ascii", "replace"))
        stored = struct.unpack("!i", payload[:4])[0] if len(payload) >= 4 else -1
        if stored in (SHA256_PASSWORD, PLAIN_PASSWORD):
            # salt (64 hex), token (8 hex), then the role's iteration count (auth.cpp, minor > 50)
            count = struct.unpack("!i", payload[76:80])[0] if len(payload) == 80 else None
            return AuthProbe("sha256", code, iterations=count)
        if stored == MD5_PASSWORD:
            return AuthProbe("md5_in_sha256_request", code)
        if stored == SM3_PASSWORD:
            return AuthProbe("sm3", code)
        return AuthProbe("unknown", code, f"password_stored_method {stored}")
    if code == AUTH_MD5_SHA256:
        return AuthProbe("md5_sha256", code)
    if code == AUTH_SHA256_RFC:
        return AuthProbe("sha256_rfc", code)
    if code == AUTH_SM3:
        return AuthProbe("sm3", code)
    if code in (AUTH_GSS, AUTH_SSPI):
        return AuthProbe("gss", code)
    return AuthProbe("other", code)


def effective_sslmode(sslmode: str | None) -> str:
    """The sslmode a session uses: the given one, else ``PGSSLMODE``, else libpq's default ``prefer``."""
    return sslmode or os.environ.get("PGSSLMODE") or "prefer"


def probe_auth(
    host: str, port: int, user: str, dbname: str, *, timeout: float = 10.0, sslmode: str | None = None
) -> AuthProbe:
    """The first authentication request ``host:port`` sends ``user``; never sends a password.

    ``sslmode`` as the session's (None: ``effective_sslmode``): SSL is asked for unless it is
    ``disable`` or ``allow``; with ``prefer``, a server that refuses the SSL session in
    pg_hba.conf (28000) is asked again without SSL, as libpq and async_gaussdb do.
    """
    mode = effective_sslmode(sslmode)
    found = _probe_once(host, port, user, dbname, timeout=timeout, use_ssl=mode not in ("disable", "allow"))
    if mode == "prefer" and found.method == "error" and found.detail.startswith("SQLSTATE 28000"):
        found = _probe_once(host, port, user, dbname, timeout=timeout, use_ssl=False)
    return found


def _probe_once(host: str, port: int, user: str, dbname: str, *, timeout: float, use_ssl: bool) -> AuthProbe:
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket | ssl.SSLSocket = raw
    try:
        if use_ssl:
            raw.sendall(struct.pack("!ii", 8, SSL_REQUEST))
            if _read_exact(raw, 1) == b"S":
                context = ssl.create_default_context()
                # Only the user name crosses this probe; the real session verifies per sslmode.
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(raw, server_hostname=host)
        body = struct.pack("!i", PROTOCOL_3_51)
        for key, value in (("user", user), ("database", dbname)):
            body += key.encode() + b"\x00" + value.encode("utf-8") + b"\x00"
        body += b"\x00"
        sock.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            kind = _read_exact(sock, 1)
            length = struct.unpack("!i", _read_exact(sock, 4))[0]
            payload = _read_exact(sock, length - 4)
            if kind == b"v":  # NegotiateProtocolVersion (PostgreSQL >= 10 speaks 3.0): read on
                continue
            if kind == b"E":
                fields = _error_fields(payload)
                return AuthProbe("error", None, f"SQLSTATE {fields.get('C', '?')}: {fields.get('M', '')}")
            if kind == b"R":
                code = struct.unpack("!i", payload[:4])[0]
                return _classify(code, payload[4:])
            return AuthProbe("unknown", None, f"unexpected message {kind!r}")
    finally:
        try:
            sock.close()
        finally:
            if sock is not raw:
                raw.close()


_cache: dict[tuple[str, int, str, str, str | None], AuthProbe] = {}
_lock = threading.Lock()


def cached_probe(host: str, port: int, user: str, dbname: str, *, timeout: float, sslmode: str | None) -> AuthProbe:
    """``probe_auth`` once per process and (server, user, database, sslmode)."""
    key = (host, port, user, dbname, effective_sslmode(sslmode))
    with _lock:
        found = _cache.get(key)
    if found is None:
        found = probe_auth(host, port, user, dbname, timeout=timeout, sslmode=sslmode)
        with _lock:
            _cache[key] = found
    return found


def reset_cache() -> None:
    with _lock:
        _cache.clear()


_ADVICE = (
    "Ask the DBA to store the password as sha256 (password_encryption_type = 2, then ALTER USER {user} "
    "PASSWORD '...'; driver async_gaussdb answers it) or as md5 (password_encryption_type = 0 or 1 and an md5 "
    "line in pg_hba.conf, then reset the password; every driver answers it), or pin the driver extra."
)


def driver_for(probe: AuthProbe, *, where: str, user: str) -> str:
    """The driver that answers ``probe``; UnsupportedAuthError with the DBA's fix when none does."""
    if probe.method in ("sha256", "md5_in_sha256_request"):
        return SHA256_DRIVER
    if probe.method == "sm3":
        raise UnsupportedAuthError(
            f"{where} asks user {user!r} for an SM3 password exchange (authentication request 13, "
            "password_encryption_type = 3): no Python driver supports SM3. " + _ADVICE.format(user=user)
        )
    if probe.method in ("md5_sha256", "sha256_rfc"):
        raise UnsupportedAuthError(
            f"{where} asks user {user!r} for authentication request {probe.code} ({probe.method}: an md5 line in "
            "pg_hba.conf over a sha256-stored password), which no Python driver supports. " + _ADVICE.format(user=user)
        )
    # trust, password, md5, SCRAM, GSS, or an error the real connect will report properly.
    return LIBPQ_DRIVER
