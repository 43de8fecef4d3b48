"""The sha256 answer of hooks.agdb_login, checked by the test server's copy of openGauss's verifier."""

from __future__ import annotations

import struct

import pytest

from gaussdb_batch.hooks.agdb_login import ChallengeRefused, parse_challenge, password_message, proof
from tests.gauss_auth_server import sha256_proof_ok, sha256_verifier

SALT, TOKEN = bytes(range(32)).hex(), "0a0b0c0d"


@pytest.mark.parametrize("iterations", [2048, 4096, 10000, 123457])
def test_the_proof_uses_the_count_the_server_sent(iterations):
    stored_key, _ = sha256_verifier("Secret#1", bytes.fromhex(SALT), iterations)
    assert sha256_proof_ok(proof("Secret#1", SALT, TOKEN, iterations).decode(), stored_key, bytes.fromhex(TOKEN))
    if iterations != 10000:  # what async-gaussdb 0.30.4 computes is refused
        assert not sha256_proof_ok(proof("Secret#1", SALT, TOKEN, 10000).decode(), stored_key, bytes.fromhex(TOKEN))


def test_the_password_message_is_one_nul_terminated_string():
    """auth.cpp recv_password_packet: strlen(data) + 1 must equal the packet's length."""
    message = password_message(b"ab" * 32)
    assert message[:1] == b"p" and struct.unpack("!i", message[1:5])[0] == len(message) - 1
    body = message[5:]
    assert body.index(b"\x00") + 1 == len(body) == 65


def _challenge(tail: bytes) -> bytes:
    return SALT.encode() + TOKEN.encode() + tail


def test_challenges_of_protocol_3_51_and_3_50():
    assert parse_challenge(_challenge(struct.pack("!i", 4096))) == (SALT, TOKEN, 4096)
    assert parse_challenge(_challenge(b"")) == (SALT, TOKEN, 10000)  # no count on the wire: fe-connect.cpp's default


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (_challenge(struct.pack("!i", 2047)), "2047 PBKDF2 iterations.*2048..134217728.*auth_iteration_count"),
        (_challenge(struct.pack("!i", 134217729)), "134217729 PBKDF2 iterations"),
        (_challenge(b"x" * 64), "64 unexpected trailing bytes"),
        (SALT.encode()[:40], "shorter than salt and token"),
        (b"zz" * 32 + TOKEN.encode() + struct.pack("!i", 4096), "not hex"),
    ],
)
def test_challenges_no_right_proof_exists_for_are_refused(payload, message):
    with pytest.raises(ChallengeRefused, match=message):
        parse_challenge(payload)
