"""Personal identifiers at rest: AES-GCM encryption, a keyed hash for matching, masking.

身份证号, phone numbers and insurance numbers are never stored in clear: the
ciphertext is kept for display to an authorised user, the keyed hash (HMAC-SHA256)
for exact matching, and everything else sees the masked form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from yilian.config import get_settings


class IdentifierCipher:
    def __init__(self, data_key: str) -> None:
        raw = base64.urlsafe_b64decode(data_key.encode())
        if len(raw) != 32:
            raise ValueError("YILIAN_DATA_KEY must be 32 bytes, url-safe base64")
        self._enc_key = hashlib.sha256(b"yilian-enc" + raw).digest()
        self._mac_key = hashlib.sha256(b"yilian-mac" + raw).digest()
        self._aead = AESGCM(self._enc_key)

    def encrypt(self, value: str) -> str:
        nonce = os.urandom(12)
        ct = self._aead.encrypt(nonce, value.encode(), None)
        return base64.urlsafe_b64encode(nonce + ct).decode()

    def decrypt(self, token: str) -> str:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()

    def keyed_hash(self, value: str, *, kind: str = "") -> str:
        """Deterministic HMAC of a normalised identifier (``kind`` separates namespaces)."""
        msg = f"{kind}:{value.strip().upper()}".encode()
        return hmac.digest(self._mac_key, msg, "sha256").hex()  # one-shot C HMAC


@lru_cache
def get_cipher() -> IdentifierCipher:
    return IdentifierCipher(get_settings().data_key)


def mask(value: str | None, *, keep_start: int = 3, keep_end: int = 4) -> str:
    """Mask the middle of an identifier: 310105199001011234 → 310***********1234."""
    if not value:
        return ""
    if len(value) <= keep_start + keep_end:
        return value[:1] + "*" * (len(value) - 1)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[-keep_end:]


def mask_name(name: str | None) -> str:
    """Mask a Chinese name the way hospitals print it: 张伟 → 张*, 欧阳娜娜 → 欧**娜."""
    if not name:
        return ""
    if len(name) <= 2:
        return name[0] + "*" * (len(name) - 1)
    return name[0] + "*" * (len(name) - 2) + name[-1]
