"""openGauss's sha256 login, answered by this project for ``async_gaussdb``.

async-gaussdb 0.30.4 reads the iteration count an openGauss server sends in its sha256
challenge and then uses 10000 whatever it was (protocol/sha256.pyx:
``if server_iteration: server_iteration = DEFAULT_ITERATIONS``), and sends the proof
without the NUL that ends a password message. A server whose ``auth_iteration_count``
is not 10000 refuses every such login, and every refusal counts as a wrong password
(``failed_login_attempts`` of them lock the role, for ``password_lock_time``).

So the library's protocol class is subclassed here: while the session logs in, the
messages the server sends pass through ``data_received`` first; a sha256 challenge
(request 10, password stored as sha256 or plain) is answered here, from the count the
server sent, and never reaches the library; everything else (md5, errors,
AuthenticationOk, the session's messages) is handed on unchanged. Written from the
openGauss sources (opengauss-mirror/openGauss-server):

- src/common/backend/libpq/auth.cpp, ``sendAuthRequest``: after the request code and
  the stored method come the salt as 64 hex characters, the token as 8 hex characters,
  then for protocol minor < 50 a server signature, for minor > 50 (this driver sends
  3.51) the role's iteration count as an int32. ``recv_password_packet`` checks that the
  message is one NUL-terminated string ("invalid password packet size").
- src/common/interfaces/libpq/fe-connect.cpp reads the count; fe-auth.cpp answers with
  ``pg_sha256_encrypt`` (src/common/backend/libpq/sha2.cpp): K = PBKDF2-HMAC-SHA1(password,
  salt bytes, count, 32); ClientKey = HMAC-SHA256(K, "Client Key"); StoredKey =
  SHA256(ClientKey); proof = HMAC-SHA256(StoredKey, token) XOR ClientKey, in hex.
- src/common/backend/utils/misc/guc/guc_security.cpp: ``auth_iteration_count`` is
  2048..134217728 (default 10000).

A count outside that range, or a challenge of another shape, is refused before any proof
is sent (the session is closed: the server counts a client that leaves as no attempt).
PBKDF2 costs about 1.6 s per million iterations on one core, so it runs in a thread and the
derived keys are kept per process, keyed by (password digest, salt, count): the next login
with the same role costs nothing. A first login at the largest counts takes minutes; if the
server's ``authentication_timeout`` (60 s by default) or the connect timeout ends it first,
the derivation still completes and the next attempt logs in.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import threading
from collections import OrderedDict
from typing import Any

AUTH_OK, AUTH_SHA256 = 0, 10
PLAIN_PASSWORD, SHA256_PASSWORD = 0, 2
#: openGauss's auth_iteration_count: default and range (guc_security.cpp).
DEFAULT_ITERATIONS, MIN_ITERATIONS, MAX_ITERATIONS = 10000, 2048, 134217728
SALT_HEX, TOKEN_HEX = 64, 8
#: SQLSTATE of the error this client reports when it refuses a challenge: protocol_violation.
REFUSED_SQLSTATE = "08P01"
REFUSED_PREFIX = "sha256 login refused by the client before sending a proof: "
_CACHE_SIZE = 32

_keys: OrderedDict[tuple[bytes, str, int], tuple[bytes, bytes]] = OrderedDict()
_running: dict[tuple[bytes, str, int], threading.Event] = {}
_keys_lock = threading.Lock()


class ChallengeRefused(ValueError):
    """A sha256 challenge this client will not answer: no proof can be right."""


def client_keys(password: str, salt_hex: str, iterations: int) -> tuple[bytes, bytes]:
    """(ClientKey, StoredKey) of sha2.cpp's ``pg_sha256_encrypt``; cached per process."""
    key = (hashlib.sha256(password.encode("utf-8")).digest(), salt_hex, iterations)
    while True:
        with _keys_lock:
            if key in _keys:
                _keys.move_to_end(key)
                return _keys[key]
            running = _running.get(key)
            if running is None:
                _running[key] = running = threading.Event()
                break
        running.wait()  # another thread derives the same key: share its result
    try:
        k = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), bytes.fromhex(salt_hex), iterations, 32)
        client_key = hmac.new(k, b"Client Key", hashlib.sha256).digest()
        keys = (client_key, hashlib.sha256(client_key).digest())
        with _keys_lock:
            _keys[key] = keys
            while len(_keys) > _CACHE_SIZE:
                _keys.popitem(last=False)
        return keys
    finally:
        with _keys_lock:
            _running.pop(key, None)
        running.set()


def proof(password: str, salt_hex: str, token_hex: str, iterations: int) -> bytes:
    """fe-auth.cpp's answer: HMAC-SHA256(StoredKey, token) XOR ClientKey, as 64 hex characters."""
    client_key, stored_key = client_keys(password, salt_hex, iterations)
    signature = hmac.new(stored_key, bytes.fromhex(token_hex), hashlib.sha256).digest()
    return bytes(a ^ b for a, b in zip(signature, client_key)).hex().encode("ascii")


def password_message(answer: bytes) -> bytes:
    """A 'p' message holding ``answer`` and the NUL that auth.cpp's packet-size check expects."""
    body = answer + b"\x00"
    return b"p" + struct.pack("!i", len(body) + 4) + body


def parse_challenge(payload: bytes) -> tuple[str, str, int]:
    """(salt hex, token hex, iteration count) of a request-10 sha256 payload after the stored method."""
    head = SALT_HEX + TOKEN_HEX
    if len(payload) < head:
        raise ChallengeRefused(f"the server's sha256 challenge is {len(payload)} bytes, shorter than salt and token")
    salt, token = payload[:SALT_HEX].decode("ascii", "replace"), payload[SALT_HEX:head].decode("ascii", "replace")
    rest = payload[head:]
    try:
        bytes.fromhex(salt), bytes.fromhex(token)
    except ValueError:
        raise ChallengeRefused("the server's sha256 challenge carries a salt or token that is not hex") from None
    if len(rest) == 4:
        iterations = struct.unpack("!i", rest)[0]
    elif not rest:  # protocol 3.50: no count on the wire, fe-connect.cpp keeps the default
        iterations = DEFAULT_ITERATIONS
    else:
        raise ChallengeRefused(f"the server's sha256 challenge has {len(rest)} unexpected trailing bytes")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ChallengeRefused(
            f"the server asks for {iterations} PBKDF2 iterations, outside openGauss's auth_iteration_count range "
            f"{MIN_ITERATIONS}..{MAX_ITERATIONS}; check the server setting auth_iteration_count"
        )
    return salt, token, iterations


def _error_message(sqlstate: str, text: str) -> bytes:
    body = b"SFATAL\x00VFATAL\x00C" + sqlstate.encode() + b"\x00M" + text.encode("utf-8") + b"\x00\x00"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def protocol_class(base: type) -> type:
    """A subclass of the library's protocol that answers sha256 challenges itself."""

    class SHA256LoginProtocol(base):  # type: ignore[misc, valid-type]
        def __init__(self, addr: Any, connected_fut: Any, con_params: Any, record_class: Any, loop: Any) -> None:
            super().__init__(addr, connected_fut, con_params, record_class, loop)
            self._gb_password = con_params.password
            self._gb_loop = loop
            self._gb_transport: Any = None
            self._gb_logging_in = True
            self._gb_pending = b""

        def connection_made(self, transport: Any) -> None:
            self._gb_transport = transport
            super().connection_made(transport)

        def data_received(self, data: Any) -> None:
            if not self._gb_logging_in:
                super().data_received(data)
                return
            self._gb_pending += bytes(data)
            handed = bytearray()
            while self._gb_logging_in and len(self._gb_pending) >= 5:
                length = struct.unpack("!i", self._gb_pending[1:5])[0]
                if len(self._gb_pending) < 1 + length:
                    break
                message, self._gb_pending = self._gb_pending[: 1 + length], self._gb_pending[1 + length :]
                kind, body = message[:1], message[5:]
                if kind == b"R" and len(body) >= 8 and struct.unpack("!ii", body[:8]) in (
                    (AUTH_SHA256, SHA256_PASSWORD), (AUTH_SHA256, PLAIN_PASSWORD),
                ):  # fmt: skip
                    if handed:  # what came before the challenge reaches the library first
                        super().data_received(bytes(handed))
                        handed.clear()
                    self._gb_answer(body[8:])
                    continue
                handed += message
                if kind == b"E" or (kind == b"R" and body[:4] == struct.pack("!i", AUTH_OK)):
                    self._gb_logging_in = False  # the login is over: the rest is the library's
            if not self._gb_logging_in:
                handed += self._gb_pending
                self._gb_pending = b""
            if handed:
                super().data_received(bytes(handed))

        def _gb_answer(self, payload: bytes) -> None:
            try:
                salt, token, iterations = parse_challenge(payload)
                if not self._gb_password:
                    raise ChallengeRefused("the server asks for a password and none was given")
            except ChallengeRefused as exc:
                self._gb_refuse(str(exc))
                return
            password, loop = str(self._gb_password), self._gb_loop

            def derive() -> None:
                try:
                    answer: bytes | BaseException = proof(password, salt, token, iterations)
                except BaseException as exc:  # handed to the loop, which reports it
                    answer = exc
                try:
                    loop.call_soon_threadsafe(self._gb_send, answer)
                except RuntimeError:
                    pass  # the connection was given up and its loop closed; the keys stay cached

            threading.Thread(target=derive, name="gaussdb-batch-sha256", daemon=True).start()

        def _gb_send(self, answer: bytes | BaseException) -> None:
            transport = self._gb_transport
            if transport is None or transport.is_closing():
                return
            if isinstance(answer, BaseException):
                self._gb_refuse(f"computing the sha256 proof failed: {answer}")
                return
            transport.write(password_message(answer))

        def _gb_refuse(self, reason: str) -> None:
            """Report ``reason`` as the login's error and hang up; no proof leaves the process."""
            self._gb_logging_in = False
            self._gb_pending = b""
            super().data_received(_error_message(REFUSED_SQLSTATE, REFUSED_PREFIX + reason))
            if self._gb_transport is not None and not self._gb_transport.is_closing():
                self._gb_transport.close()

    SHA256LoginProtocol.__qualname__ = SHA256LoginProtocol.__name__ = f"SHA256Login{base.__name__}"
    return SHA256LoginProtocol


def install() -> bool:
    """Make ``async_gaussdb`` open its sessions with the protocol above; True when in place."""
    try:
        from async_gaussdb import protocol as agp
    except ImportError:
        return False
    current = getattr(agp, "Protocol", None)
    if current is None:
        return False
    if getattr(current, "_gb_sha256_login", False):
        return True
    patched = protocol_class(current)
    patched._gb_sha256_login = True  # type: ignore[attr-defined]
    agp.Protocol = patched
    return True


