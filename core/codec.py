"""Encryption of everything Temporal stores: an AES-GCM payload codec with keys named by id.

Every payload (workflow inputs and results, messages, activity inputs and results, and failure
messages and stack traces, through the failure converter) is encrypted with the active key before
it leaves the process. A payload names the key that sealed it, so a new key can be brought in
while payloads sealed with older keys still decode. Payloads that were never encrypted (histories
written before the codec existed) decode unchanged.
"""

import base64
import binascii
import os
from collections.abc import Iterable, Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class CodecKeyError(ValueError):
    """The configured codec keys are unusable; the message says which and why."""


def parse_keys(spec: str) -> dict[str, bytes]:
    """`id:base64key,id2:base64key2` -> {id: key}; each key is 16, 24 or 32 bytes (AES-128/192/256)."""
    keys: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        key_id, separator, encoded = entry.partition(":")
        if not separator or not key_id:
            raise CodecKeyError(f"COMPLAINTS_CODEC_KEYS: {entry[:8]}…: expected id:base64key")
        try:
            key = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise CodecKeyError(f"COMPLAINTS_CODEC_KEYS: key {key_id!r} is not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise CodecKeyError(f"COMPLAINTS_CODEC_KEYS: key {key_id!r} must be 16, 24 or 32 bytes, not {len(key)}")
        keys[key_id] = key
    if not keys:
        raise CodecKeyError("COMPLAINTS_CODEC_KEYS: no key given")
    return keys


def new_key_spec(key_id: str) -> str:
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    """Seals payloads with the active key; opens them with whichever key they name."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise CodecKeyError(f"COMPLAINTS_CODEC_ACTIVE_KEY: {active_key_id!r} is not among the codec keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active_key_id = active_key_id

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._seal(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._open(payload) for payload in payloads]

    def seal_bytes(self, data: bytes, *, bound_to: bytes) -> tuple[str, bytes]:
        """Seal bytes kept outside Temporal (an evidence file) with the active key: (key id, nonce + sealed).
        `bound_to` (the file's id) must be given again to open them, so a sealed file cannot pass for another."""
        nonce = os.urandom(NONCE_BYTES)
        return self._active_key_id, nonce + self._ciphers[self._active_key_id].encrypt(nonce, data, bound_to)

    def open_bytes(self, key_id: str, sealed: bytes, *, bound_to: bytes) -> bytes:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecKeyError(f"file sealed with unknown key {key_id!r}; add it to COMPLAINTS_CODEC_KEYS")
        return cipher.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], bound_to)

    def _seal(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._active_key_id].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._active_key_id.encode()},
            data=nonce + sealed,
        )

    def _open(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecKeyError(f"payload sealed with unknown key {key_id!r}; add it to COMPLAINTS_CODEC_KEYS")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        return Payload.FromString(cipher.decrypt(nonce, sealed, None))


def codec_from(keys_spec: str, active_key_id: str | None) -> EncryptionCodec:
    keys = parse_keys(keys_spec)
    return EncryptionCodec(keys, active_key_id or _last(keys))


def _last(key_ids: Iterable[str]) -> str:
    *_, last = key_ids
    return last
