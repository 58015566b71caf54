"""The parts' Ed25519 verifier (hall_common/ed25519.py, PyNaCl) agrees with RFC 8032 and with
``cryptography``: every genuine signature passes, anything changed fails, and malformed
keys and signatures are refused without an exception."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hall_common.ed25519 import verify

P = 2**255 - 19
"""The field's prime: a y coordinate at or above it is a non-canonical encoding."""
L = 2**252 + 27742317777372353535851937790883648493
"""The group order: S + L signs the same message again unless S < L is checked."""

# RFC 8032, section 7.1, TEST 1 to 3: secret key, public key, message, signature.
RFC_VECTORS = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@pytest.mark.parametrize("secret, public, message, signature", RFC_VECTORS)
def test_rfc_8032_vectors(secret, public, message, signature):
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert raw_public(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))) == pub
    assert verify(pub, sig, msg)
    assert not verify(pub, sig, msg + b"\0")


def test_agrees_with_cryptography_on_genuine_and_tampered_signatures():
    rng = random.Random(8032)
    for n in range(60):
        key = Ed25519PrivateKey.generate()
        pub, msg = raw_public(key), rng.randbytes(n * 7)
        sig = key.sign(msg)
        assert verify(pub, sig, msg)
        flipped = bytearray(sig)
        flipped[rng.randrange(64)] ^= 1 << rng.randrange(8)
        assert not verify(pub, bytes(flipped), msg)
        assert not verify(pub, sig, msg + b"x")
        other = raw_public(Ed25519PrivateKey.generate())
        assert not verify(other, sig, msg)


def test_malformed_input_is_refused_without_an_exception():
    key = Ed25519PrivateKey.generate()
    pub, sig = raw_public(key), key.sign(b"config")
    assert not verify(pub[:31], sig, b"config")
    assert not verify(pub, sig[:63], b"config")
    assert not verify(b"", b"", b"config")
    # S + L is the same scalar modulo L: a second signature for one message, refused.
    s = int.from_bytes(sig[32:], "little")
    assert not verify(pub, sig[:32] + (s + L).to_bytes(32, "little"), b"config")
    # A y coordinate at or above p names no point (a non-canonical encoding).
    assert not verify((P + 1).to_bytes(32, "little"), sig, b"config")
    assert not verify(pub, (P + 1).to_bytes(32, "little") + sig[32:], b"config")
    assert not verify(b"\xff" * 32, sig, b"config")
