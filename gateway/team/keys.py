"""Client keys: made from 32 random bytes, kept only as their SHA-256, compared in constant time.

A key this random needs no slow hash (no dictionary can guess it); SHA-256 keeps the stored list
useless to whoever reads it, and the per-request check costs one hash of ~50 bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["KEY_PREFIX", "key_hash", "new_key", "same_hash"]

# Recognisable in a leaked paste or a secret scanner's rule, like other providers' keys.
KEY_PREFIX = "lmg-"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: bytes | str) -> str:
    data = key.encode() if isinstance(key, str) else key
    return hashlib.sha256(data).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
