"""A test server on 127.0.0.1 that logs clients in the way openGauss does, then relays to PostgreSQL.

No GaussDB can run here, so this server performs the server side of openGauss's
password exchanges and, once a client has proved its password, opens a session on
the local PostgreSQL (as an md5 user) and relays bytes both ways. Written from the
openGauss server sources (opengauss-mirror/openGauss-server):

- src/include/libpq/pqcomm.h: request codes AUTH_REQ_SHA256 = 10, AUTH_REQ_SM3 = 13,
  CANCEL_REQUEST_CODE, NEGOTIATE_SSL_CODE, PG_PROTOCOL_GAUSS_BASE = 50.
- src/include/libpq/sha2.h: SHA256_PASSWORD = 2, SM3_PASSWORD = 3, ITERATION_COUNT = 10000,
  SALT_LENGTH = 32, TOKEN_LENGTH = 4.
- src/common/backend/libpq/sha2.cpp, ``pg_sha256_encrypt``: K = PBKDF2-HMAC-SHA1(password,
  salt, iterations, 32); ServerKey = HMAC-SHA256(K, "Sever Key") (sic, 9 bytes);
  ClientKey = HMAC-SHA256(K, "Client Key"); StoredKey = SHA256(ClientKey).
- src/common/backend/libpq/auth.cpp, ``sendAuthRequest``: 'R', int32 10, int32
  stored method, the salt as 64 hex characters, the token as 8 hex characters, then
  for protocol minor < 50 the server signature HMAC-SHA256(ServerKey, token) in hex,
  for minor > 50 an int32 iteration count. ``recv_password_packet``: a 'p' message.
  Wrong password: FATAL 28P01 "Invalid username/password,login denied.".
- src/common/backend/libpq/crypt.cpp, ``crypt_verify`` (uaSHA256): the client proof is
  64 hex characters; ClientKey' = proof XOR HMAC-SHA256(StoredKey, token); the login
  passes when SHA256(ClientKey') == StoredKey.
- src/common/interfaces/libpq/fe-auth.cpp (the client side): proof =
  HMAC-SHA256(StoredKey, token) XOR ClientKey, hex-encoded.
- src/common/backend/libpq/auth.cpp, ``recv_password_packet``: the password message must
  be one NUL-terminated string (``strlen(buf.data) + 1 != buf.len`` logs "invalid password
  packet size" at COMMERROR level and goes on); this server records the same complaint
  in ``Login.complaints`` and, like the real one, still checks the proof.
- src/common/backend/utils/misc/guc/guc_security.cpp: ``auth_iteration_count`` defaults
  to 10000 and ranges over 2048..134217728; auth.cpp sends the role's stored count, and the
  salt is stored with the password (the same at every login; the token is new each time).
  ``iterations`` picks the count this server stores and sends (any value, so a client can
  also be shown one outside the range). An SSLRequest is declined ('N') and recorded in
  ``Login.asked_ssl``.

What async_gaussdb 0.30.4 sends by itself (its protocol/coreproto.pyx and sha256.pyx):
a startup packet with protocol 3.51 and ``client_encoding``, ``user``, ``database`` and
its ``server_settings``; the proof as 64 hex bytes WITHOUT the NUL terminator. It reads
the iteration count from the request but then always uses 10000 (``if server_iteration:
server_iteration = DEFAULT_ITERATIONS``), so with any other count its proof is wrong.
gaussdb_batch.hooks.agdb_login answers the challenge in its place.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
import threading
from dataclasses import dataclass, field

AUTH_OK, AUTH_MD5, AUTH_SHA256, AUTH_SM3 = 0, 5, 10, 13
SHA256_PASSWORD, SM3_PASSWORD = 2, 3
CANCEL_REQUEST, SSL_REQUEST, GSSENC_REQUEST = 80877102, 80877103, 80877104
GAUSS_BASE = 50
ITERATIONS = 10000


def sha256_verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> tuple[bytes, bytes]:
    """(StoredKey, ServerKey) as openGauss stores them for ``password`` (sha2.cpp)."""
    k = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations, 32)
    server_key = hmac.new(k, b"Sever Key", hashlib.sha256).digest()
    client_key = hmac.new(k, b"Client Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def sha256_proof_ok(proof_hex: str, stored_key: bytes, token: bytes) -> bool:
    """crypt.cpp's check of a client proof."""
    if len(proof_hex) != 64:
        return False
    try:
        proof = bytes.fromhex(proof_hex)
    except ValueError:
        return False
    signature = hmac.new(stored_key, token, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, signature))
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def _message(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("!i", len(payload) + 4) + payload


def _error(sqlstate: str, message: str) -> bytes:
    fields = b"SFATAL\x00VFATAL\x00C" + sqlstate.encode() + b"\x00M" + message.encode() + b"\x00\x00"
    return _message(b"E", fields)


def _startup(params: dict[str, str], version: int) -> bytes:
    body = struct.pack("!i", version)
    for key, value in params.items():
        body += key.encode() + b"\x00" + value.encode() + b"\x00"
    body += b"\x00"
    return struct.pack("!i", len(body) + 4) + body


@dataclass
class Login:
    """One login attempt as the server saw it (for the tests to assert on)."""

    method: str
    protocol: tuple[int, int]
    params: dict[str, str]
    ok: bool | None = None
    #: The client sent an SSLRequest before its startup packet (this server answers 'N').
    asked_ssl: bool = False
    #: Password messages received (a client that gives up before answering sent none).
    password_messages: int = 0
    #: What openGauss would log at COMMERROR level about this login ("invalid password packet size").
    complaints: list[str] = field(default_factory=list)


@dataclass
class GaussAuthServer:
    """``method`` is what the server asks: 'sha256' (openGauss's default), 'sm3' or 'md5'."""

    password: str
    upstream: tuple[str, int]
    upstream_user: str
    upstream_password: str
    method: str = "sha256"
    iterations: int = ITERATIONS
    logins: list[Login] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._salt = os.urandom(32)
        self._verifier: tuple[bytes, bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> GaussAuthServer:
        self._spawn(self._accept_loop)
        return self

    def stop(self) -> None:
        self._stopped.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> GaussAuthServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True, name="gauss-auth-server")
        thread.start()
        self._threads.append(thread)

    def _track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._sockets.append(sock)
        return sock

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._spawn(self._serve, self._track(client))

    # -- one client --------------------------------------------------------------------------
    def _serve(self, client: socket.socket) -> None:
        try:
            self._session(client)
        except (ConnectionError, OSError):
            pass
        finally:
            client.close()

    def _read_startup(self, client: socket.socket) -> tuple[int, bytes, bool]:
        """(request code, body, whether SSL was asked for first); SSL is declined, as without certificates."""
        asked_ssl = False
        while True:
            length = struct.unpack("!i", _recv_exact(client, 4))[0]
            body = _recv_exact(client, length - 4)
            code = struct.unpack("!i", body[:4])[0]
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                asked_ssl = asked_ssl or code == SSL_REQUEST
                client.sendall(b"N")
                continue
            return code, body, asked_ssl

    def _session(self, client: socket.socket) -> None:
        code, body, asked_ssl = self._read_startup(client)
        if code == CANCEL_REQUEST:
            with socket.create_connection(self.upstream, timeout=5) as up:
                up.sendall(struct.pack("!i", len(body) + 4) + body)
                up.recv(1)
            return
        major, minor = code >> 16, code & 0xFFFF
        items = body[4:].split(b"\x00")
        params = {items[i].decode(): items[i + 1].decode() for i in range(0, len(items) - 1, 2) if items[i]}
        login = Login(self.method, (major, minor), params, asked_ssl=asked_ssl)
        self.logins.append(login)
        if self.method == "sha256":
            login.ok = self._sha256(client, minor, login)
        elif self.method == "md5":
            login.ok = self._md5(client, params.get("user", ""), login)
        else:  # sm3: the request only; nothing in Python answers it
            salt, token = os.urandom(32), os.urandom(4)
            client.sendall(_message(b"R", struct.pack("!ii", AUTH_SM3, SM3_PASSWORD) + salt.hex().encode()
                                    + token.hex().encode() + struct.pack("!i", self.iterations)))  # fmt: skip
            client.recv(1)
            return
        if not login.ok:
            client.sendall(_error("28P01", "Invalid username/password,login denied."))
            return
        self._relay(client, params)

    def _read_password(self, client: socket.socket, login: Login) -> bytes:
        """auth.cpp ``recv_password_packet``: one NUL-terminated string, read as C reads it."""
        kind = _recv_exact(client, 1)
        if kind != b"p":
            raise ConnectionError(f"expected a password message, got {kind!r}")
        length = struct.unpack("!i", _recv_exact(client, 4))[0]
        body = _recv_exact(client, length - 4)
        login.password_messages += 1
        text = body.split(b"\x00", 1)[0]  # strlen() of the buffer (StringInfo appends a NUL)
        if len(text) + 1 != len(body):
            login.complaints.append("invalid password packet size")
        return text

    def _sha256(self, client: socket.socket, minor: int, login: Login) -> bool:
        # The salt is stored with the role's password (the same at every login), the token is new.
        salt, token = self._salt, os.urandom(4)
        payload = struct.pack("!ii", AUTH_SHA256, SHA256_PASSWORD) + salt.hex().encode() + token.hex().encode()
        if minor < GAUSS_BASE:
            payload += hmac.new(self._stored(salt)[1], token, hashlib.sha256).hexdigest().encode()
        elif minor > GAUSS_BASE:
            payload += struct.pack("!i", self.iterations)
        client.sendall(_message(b"R", payload))
        proof = self._read_password(client, login)
        return sha256_proof_ok(proof.decode("ascii", "replace"), self._stored(salt)[0], token)

    def _stored(self, salt: bytes) -> tuple[bytes, bytes]:
        """(StoredKey, ServerKey), derived once as the server stores them when the password is set."""
        with self._lock:
            if self._verifier is None:
                self._verifier = sha256_verifier(self.password, salt, self.iterations)
            return self._verifier

    def _md5(self, client: socket.socket, user: str, login: Login) -> bool:
        salt = os.urandom(4)
        client.sendall(_message(b"R", struct.pack("!i", AUTH_MD5) + salt))
        answer = self._read_password(client, login).decode("ascii", "replace")
        inner = hashlib.md5((self.password + user).encode()).hexdigest()
        return hmac.compare_digest(answer, "md5" + hashlib.md5(inner.encode() + salt).hexdigest())

    # -- relay to PostgreSQL -------------------------------------------------------------------
    def _relay(self, client: socket.socket, params: dict[str, str]) -> None:
        up = self._track(socket.create_connection(self.upstream, timeout=10))
        up.settimeout(None)
        forwarded = {k: v for k, v in params.items() if k != "user"}
        up.sendall(_startup({"user": self.upstream_user, **forwarded}, 3 << 16))
        kind = _recv_exact(up, 1)
        length = struct.unpack("!i", _recv_exact(up, 4))[0]
        payload = _recv_exact(up, length - 4)
        if kind == b"R" and struct.unpack("!i", payload[:4])[0] == AUTH_MD5:
            inner = hashlib.md5((self.upstream_password + self.upstream_user).encode()).hexdigest()
            answer = "md5" + hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
            up.sendall(_message(b"p", answer.encode() + b"\x00"))
        else:  # AuthenticationOk (trust) or an error: hand it to the client as it is
            client.sendall(kind + struct.pack("!i", length) + payload)

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                try:  # the end of one direction ends the other: each side sees the close at once
                    dst.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        self._spawn(pump, up, client)
        pump(client, up)
        up.close()
