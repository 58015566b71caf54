"""Ed25519 signature verification for the hall's parts, through PyNaCl (libsodium).

The parts verify what the centre signs with Ed25519: kiosk, board and edge configuration
(:mod:`central_sync.signing`) and residents' QR codes (:mod:`hall_common.resident_qr`).
Only the centre signs, with ``cryptography``. A part that merely verifies loads PyNaCl:
about 2.3 MB of resident memory against ``cryptography``'s 7.4 MB, for the whole life of
the process, where the board's budget on a Raspberry Pi is 45 MB (issue 20). libsodium
checks strictly: ``S`` below the group order, canonical point encodings, no small-order
keys; ``tests/test_ed25519.py`` checks RFC 8032's vectors and signatures made by
``cryptography``, tampered ones included.
"""

from __future__ import annotations

KEY_BYTES = 32
SIGNATURE_BYTES = 64


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message``; a key or
    signature of the wrong length, or a key that is no point, is simply not genuine."""
    from nacl.exceptions import BadSignatureError, CryptoError
    from nacl.signing import VerifyKey

    if len(public_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, CryptoError, ValueError):
        return False
    return True
