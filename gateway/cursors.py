"""Opaque pagination cursors. A cursor carries where a page ended (the last customer ID for a caller shown
IDs, the caller's pseudonym otherwise; gateway/lookup.py) and is sealed (AES-GCM) rather than merely
encoded, so it tells nothing and cannot be forged to start a page elsewhere. Gateway processes behind one
load balancer share the key (VCV_CURSOR_KEY, hex) so a cursor from one works on another."""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class Cursors:
    def __init__(self, key: bytes | None = None) -> None:
        env = os.environ.get("VCV_CURSOR_KEY")
        self._aead = AESGCM(key or (bytes.fromhex(env) if env else AESGCM.generate_key(bit_length=128)))

    def encode(self, customer_id: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, customer_id.encode(), b"customers")
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decode(self, cursor: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            return self._aead.decrypt(raw[:12], raw[12:], b"customers").decode()
        except (binascii.Error, InvalidTag, ValueError, UnicodeDecodeError):
            raise ValueError("the cursor is not one this server issued") from None
