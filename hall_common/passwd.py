"""mosquitto's password file, in Python: its ``$7$`` hash (PBKDF2-HMAC-SHA512) and lines.

The centre keeps each hall's broker logins as these hashes (it never keeps a password),
and the edge writes them into the broker's password file (:mod:`edge_agent.roster`), so
neither needs ``mosquitto_passwd``. The format is mosquitto 2's own, as
``mosquitto_passwd`` writes it::

    kiosk-01:$7$101$<salt, base64>$<PBKDF2-SHA512 of the password, base64>

Example::

    >>> line = hash_password("secret", salt=bytes(12))
    >>> line.startswith("$7$101$AAAAAAAAAAAAAAAA$")
    True
    >>> verify("secret", line), verify("guess", line)
    (True, False)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from hall_common.bus.contract import valid_id

ITERATIONS = 101
"""mosquitto_passwd's own default (mosquitto 2.0)."""
SALT_BYTES = 12


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``$7$`` hash mosquitto checks ``password`` against."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify(password: str, hashed: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash (False for anything else)."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, want = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]))
    return hmac.compare_digest(got, want)


def valid_hash(hashed: str) -> bool:
    """A well-formed ``$7$`` hash: what the edge accepts from the centre into the broker's file."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        return len(base64.b64decode(parts[4], validate=True)) == 64 and bool(base64.b64decode(parts[3], validate=True))
    except ValueError:
        return False


def parse(text: str) -> dict[str, str]:
    """``user → hash`` of a password file's text; blank lines, comments and malformed lines
    (no colon, a user that is not a node id) are left out."""
    users: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        user, hashed = line.split(":", 1)
        if valid_id(user):
            users[user] = hashed
    return users


def render(users: dict[str, str]) -> str:
    """A password file's text, one ``user:hash`` line per user, sorted."""
    return "".join(f"{user}:{hashed}\n" for user, hashed in sorted(users.items()))
