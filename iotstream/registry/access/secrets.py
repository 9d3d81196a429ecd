"""Token secrets and password hashes.

A token is `iot_<id>_<secret>`: the id finds its row, the secret proves it. Secrets are 256 random
bits, so a single SHA-256 keeps them safe at rest and costs a microsecond per request; passwords are
chosen by people and get argon2id, which is slow on purpose and checked only at login.
"""

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = [
    "check_password",
    "hash_password",
    "hash_secret",
    "mosquitto_hash",
    "new_token",
    "secret_matches",
    "split_token",
]

_PREFIX = "iot_"
_ID_CHARS = 12
_hasher = PasswordHasher()


def new_token() -> tuple[str, str, str]:
    """A fresh token: (its id, the whole token to hand out once, the hash to keep)."""
    token_id = secrets.token_hex(_ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    return token_id, f"{_PREFIX}{token_id}_{secret}", hash_secret(secret)


def split_token(token: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed token, else None."""
    if not token.startswith(_PREFIX) or len(token) < len(_PREFIX) + _ID_CHARS + 2:
        return None
    token_id, separator, secret = token[len(_PREFIX) :].partition("_")
    if not separator or len(token_id) != _ID_CHARS or not secret:
        return None
    return token_id, secret


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(password: str, stored_hash: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def mosquitto_hash(password: str, iterations: int = 101) -> str:
    """A password in mosquitto's password file format (`$7$`: PBKDF2-SHA512, as `mosquitto_passwd`
    writes it), so the embedded broker checks tokens without iotstream keeping them."""
    salt = secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
