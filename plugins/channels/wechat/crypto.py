"""WeChat's message signatures and its safe-mode (安全模式) AES envelope.

The protocol is small enough to implement on ``cryptography`` rather than pull in an SDK:

* a signature is the lower-case hex SHA1 of its parts sorted lexicographically and joined;
* safe mode encrypts ``random(16) ‖ len(4, big-endian) ‖ xml ‖ AppID`` with AES-256-CBC,
  key ``base64decode(EncodingAESKey + "=")``, IV the key's first 16 bytes, and PKCS#7
  padding to a **32-byte** block (not AES's 16), then base64-encodes it.

Decryption errors are :class:`~regiocrm.interfaces.channels.MalformedPayload`: by the time a body is
decrypted its ``msg_signature`` has been checked, so a failure means a wrong key or a body
WeChat did not write, never something to retry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from regiocrm.interfaces.channels import MalformedPayload

# WeChat pads to 32 bytes although AES's block is 16 (消息加解密技术方案).
PAD_BLOCK = 32
RANDOM_PREFIX = 16
LENGTH_FIELD = 4


def signature(*parts: str) -> str:
    """WeChat's SHA1 signature of ``parts``: sorted, joined, hashed, lower-case hex.

    The URL check and every POST sign ``token, timestamp, nonce``; safe mode adds the
    ``Encrypt`` value for ``msg_signature``.
    """
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - WeChat's protocol


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey (43 base64 characters, no padding) stands for."""
    key = base64.b64decode(encoding_aes_key + "=")
    if len(key) != 32:
        raise ValueError("an EncodingAESKey is 43 characters and decodes to 32 bytes")
    return key


def encrypt(key: bytes, app_id: str, message: bytes) -> str:
    """``message`` in WeChat's safe-mode envelope, base64: what goes in ``<Encrypt>``.

    A fresh random prefix per message makes equal replies encrypt differently under the
    fixed IV.
    """
    plain = (
        secrets.token_bytes(RANDOM_PREFIX)
        + len(message).to_bytes(LENGTH_FIELD, "big")
        + message
        + app_id.encode()
    )
    pad = PAD_BLOCK - len(plain) % PAD_BLOCK
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    ciphertext = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt(key: bytes, app_id: str, encrypted: str) -> bytes:
    """The message inside an ``<Encrypt>`` value, checked to be meant for ``app_id``.

    :raises MalformedPayload: for bad base64, a length that is not whole AES blocks, padding
        that is not PKCS#7 to 32 bytes (a pad byte outside 1..32 included, which wechatpy
        does not check), a length field that does not end where the AppID starts, or
        another account's AppID.
    """
    try:
        ciphertext = base64.b64decode(encrypted, validate=True)
    except binascii.Error:
        raise MalformedPayload("Encrypt is not base64") from None
    if not ciphertext or len(ciphertext) % 16:
        raise MalformedPayload("Encrypt is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()

    pad = plain[-1]
    if not 1 <= pad <= PAD_BLOCK or plain[-pad:] != bytes([pad]) * pad:
        raise MalformedPayload("Encrypt has bad padding: wrong key or not from WeChat")
    content = plain[RANDOM_PREFIX:-pad]
    length = int.from_bytes(content[:LENGTH_FIELD], "big")
    # A length field that overruns leaves no AppID behind it, so this check covers it too.
    if content[LENGTH_FIELD + length :] != app_id.encode():
        raise MalformedPayload("Encrypt was made for another AppID, or its length is wrong")
    return content[LENGTH_FIELD : LENGTH_FIELD + length]
