"""Password hashing: bcrypt over a SHA-256 pre-hash, so no byte past the 72nd is ignored."""

import base64
import hashlib
from functools import lru_cache

import bcrypt


def _prehash(password: str) -> bytes:
    # bcrypt reads 72 bytes at most; base64(SHA-256) is 44 bytes with no NUL, as the bcrypt
    # package's documentation advises for longer inputs.
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def hash_password(password: str, rounds: int) -> str:
    """Hash a password for storage."""
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether the password matches the stored hash."""
    try:
        return bcrypt.checkpw(_prehash(password), password_hash.encode("ascii"))
    except ValueError:
        return False


@lru_cache(maxsize=4)
def _dummy_hash(rounds: int) -> str:
    return hash_password("not a password of anyone", rounds)


def spend_verify_time(password: str, rounds: int) -> None:
    """Do the work of one verification, so an unknown email answers as slowly as a known one."""
    verify_password(password, _dummy_hash(rounds))
