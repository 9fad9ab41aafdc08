"""Submitters' tracking codes: random, shown once, kept by the case only as a SHA-256 hash.

A code is 128 random bits (`secrets`), written as 22 URL-safe base64 characters. A channel retries a
submission and must get the same code again, so the intake keeps a sealed copy of it with the
submission's idempotency keys: AES-GCM under a key derived (HKDF-SHA256) from `COMPLAINTS_SECRET_KEY`,
bound to the case's reference. Nothing else can turn the stored hash back into the code.

Cases made before codes were random have codes derived from their reference (an HMAC under the same
secret); their hashes keep verifying, and `derived_tracking_code` still gives a retry of such a
submission the code its first attempt gave.
"""

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64encode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

CODE_BYTES = 16
NONCE_BYTES = 12
# Names what the derived key is for, so that the same secret never yields the same key for two purposes.
_SEALING_KEY_INFO = b"complaints: sealed tracking codes of intake requests, v1"


def new_tracking_code() -> str:
    """128 random bits, URL-safe base64 without padding: 22 characters."""
    return urlsafe_b64encode(secrets.token_bytes(CODE_BYTES)).decode().rstrip("=")


def derived_tracking_code(secret: bytes, reference: str) -> str:
    """The code of a case made before codes were random: an HMAC of its reference (128 bits)."""
    digest = hmac.new(secret, f"tracking:{reference}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest[:CODE_BYTES]).decode().rstrip("=")


class SealedCodeUnreadable(Exception):
    """A sealed tracking code that this secret cannot open: the secret changed, or the copy was altered."""


class CodeSeal:
    """Seals and opens tracking codes with AES-GCM; the case's reference is authenticated with each code."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEALING_KEY_INFO).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, code: str, reference: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, code.encode(), reference.encode())

    def open(self, sealed: bytes, reference: str) -> str:
        try:
            return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], reference.encode()).decode()
        except (InvalidTag, ValueError):
            raise SealedCodeUnreadable(
                f"the tracking code kept for {reference} cannot be opened: was COMPLAINTS_SECRET_KEY changed?"
            ) from None
