"""Ed25519 signature verification in pure Python (RFC 8032, section 5.1.7).

The hall's parts verify what the centre signs with Ed25519: kiosk, board and edge
configuration (:mod:`central_sync.signing`) and residents' QR codes
(:mod:`hall_common.resident_qr`). Loading ``cryptography`` for that costs a process about
7 MB of its resident memory for the whole of its life, and the board's budget on a
Raspberry Pi is 45 MB (issue 20). Verifying needs only public data (the key, the message,
the signature), so a plain implementation has no secret to leak through its timing; it
takes a few milliseconds, and a part verifies a configuration when one arrives and a QR
code when a resident holds one up. Signing stays with ``cryptography`` at the centre.

This follows the reference code of RFC 8032, section 6: points in extended twisted
Edwards coordinates, strict decoding (a coordinate at or above p, or a point not on the
curve, is refused), ``S`` below the group order, and the cofactorless check
``[S]B == R + [k]A``, as OpenSSL (behind ``cryptography``) checks it.
``tests/test_ed25519.py`` checks it against the RFC's test vectors and against
signatures made by ``cryptography``, tampered ones included::

    >>> verify(bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
    ...        bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    ...                      "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"), b"")
    True
"""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
"""The order of the base point's group."""
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]
"""(X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z."""


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    e1 = (y1 - x1) * (y2 - x2) % P
    e2 = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = e2 - e1, dd - c, dd + c, e2 + e1
    return e * f % P, g * h % P, f * g % P, e * h % P


def _double(a: Point) -> Point:
    x1, y1, z1, _ = a
    aa = x1 * x1 % P
    bb = y1 * y1 % P
    c = 2 * z1 * z1 % P
    h = aa + bb
    e = h - (x1 + y1) * (x1 + y1) % P
    g = aa - bb
    f = c + g
    return e * f % P, g * h % P, f * g % P, e * h % P


def _equal(a: Point, b: Point) -> bool:
    x1, y1, z1, _ = a
    x2, y2, z2, _ = b
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x & 1 != sign:
        x = P - x
    return x


def _decode(s: bytes) -> Point | None:
    """The point a 32-byte encoding names, or None for one that names no point."""
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return x, y, 1, x * y % P


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
assert _GX is not None
BASE: Point = (_GX, _GY, 1, _GX * _GY % P)
_IDENTITY: Point = (0, 1, 1, 0)


def _double_mul(s: int, a: Point, k: int, b: Point) -> Point:
    """[s]A + [k]B in one pass of doublings (Straus-Shamir)."""
    ab = _add(a, b)
    q = _IDENTITY
    for i in range(max(s.bit_length(), k.bit_length()) - 1, -1, -1):
        q = _double(q)
        bit_s, bit_k = (s >> i) & 1, (k >> i) & 1
        if bit_s and bit_k:
            q = _add(q, ab)
        elif bit_s:
            q = _add(q, a)
        elif bit_k:
            q = _add(q, b)
    return q


def verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is the holder of ``public_key``'s Ed25519 signature of ``message``.
    Malformed keys and signatures are simply not valid: this never raises for bad input."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode(public_key)
    r = _decode(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % L
    # [S]B == R + [k]A, as [S]B + [k](-A) == R: one pass over both scalars.
    minus_a = ((P - a[0]) % P, a[1], a[2], (P - a[3]) % P)
    return _equal(_double_mul(s, BASE, k, minus_a), r)
