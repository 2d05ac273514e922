"""WeCom's callback encryption (the WXBizMsgCrypt scheme of 企业微信's 加解密方案).

- signature: SHA-1 of the sorted, concatenated [token, timestamp, nonce, encrypt], hex;
- cipher: AES-256-CBC, key = base64(EncodingAESKey + "="), IV = the key's first 16 bytes,
  PKCS#7 padding to a multiple of 32 bytes;
- plaintext: 16 random bytes + the message's length (4 bytes, big-endian) + the message +
  the receive id (the corp id of a self-built application).

The AES is the ``cryptography`` package's; only the framing above is ours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wecom.xmlfields import build_xml, parse_fields

BLOCK_BITS = 256  # WeCom pads to 32 bytes, not AES's 16
RANDOM_BYTES = 16
LENGTH_BYTES = 4


class WeComCryptoError(ValueError):
    """A callback that cannot be trusted or read; nothing of it may be acted on."""


class SignatureError(WeComCryptoError):
    """msg_signature does not match: not from WeCom, or another token."""


class ReceiverError(WeComCryptoError):
    """The message decrypts but names another corp (receive id)."""


class DecryptError(WeComCryptoError):
    """Not base64, not whole AES blocks, bad PKCS#7 padding, or a length that does not fit."""


class AesKeyError(WeComCryptoError):
    """The EncodingAESKey is not 43 base64 characters of a 32-byte key."""


@dataclass(frozen=True)
class EncryptedMessage:
    """What WeCom sends or receives: the ciphertext and the query parameters that sign it."""

    encrypt: str
    msg_signature: str
    timestamp: str
    nonce: str

    def reply_xml(self) -> str:
        """The passive reply body WeCom expects."""
        return build_xml(
            {
                "Encrypt": self.encrypt,
                "MsgSignature": self.msg_signature,
                "TimeStamp": self.timestamp,
                "Nonce": self.nonce,
            }
        )


def signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The msg_signature of ``encrypt``."""
    joined = "".join(sorted((token, timestamp, nonce, encrypt)))
    return hashlib.sha1(joined.encode()).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey (43 characters, no "=") stands for."""
    if len(encoding_aes_key) != 43:
        raise AesKeyError("the EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as error:
        raise AesKeyError("the EncodingAESKey is not base64") from error
    if len(key) != 32:
        raise AesKeyError("the EncodingAESKey does not decode to 32 bytes")
    return key


class WeComCrypto:
    """Verify, decrypt and encrypt one application's callbacks."""

    def __init__(
        self,
        token: str,
        encoding_aes_key: str,
        receive_id: str,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._token = token
        self._key = aes_key(encoding_aes_key)
        self._receive_id = receive_id.encode()
        self._random_bytes = random_bytes  # injectable: known vectors fix the 16 random bytes

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """The plaintext of the URL check's echostr, which the GET must answer with."""
        self._check_signature(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(
        self, msg_signature: str, timestamp: str, nonce: str, body: str | bytes
    ) -> str:
        """The plaintext XML of a POSTed callback (its body is ``<xml>…<Encrypt>…``)."""
        encrypt = parse_fields(body).get("Encrypt")
        if not encrypt:
            raise DecryptError("the callback XML has no Encrypt element")
        self._check_signature(msg_signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_message(self, message: str, timestamp: str, nonce: str) -> EncryptedMessage:
        """``message`` encrypted and signed (a passive reply, or a callback the fake sends)."""
        encrypt = self.encrypt(message)
        sign = signature(self._token, timestamp, nonce, encrypt)
        return EncryptedMessage(encrypt, sign, timestamp, nonce)

    def encrypt_reply(self, message: str, timestamp: str, nonce: str) -> str:
        """The passive reply XML carrying ``message``."""
        return self.encrypt_message(message, timestamp, nonce).reply_xml()

    def encrypt(self, message: str) -> str:
        """Base64 of the AES ciphertext of the framed ``message``."""
        body = message.encode()
        framed = (
            self._random_bytes(RANDOM_BYTES)
            + struct.pack(">I", len(body))
            + body
            + self._receive_id
        )
        padder = padding.PKCS7(BLOCK_BITS).padder()
        padded = padder.update(framed) + padder.finalize()
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        """The message inside a ciphertext, after checking its frame and receive id."""
        framed = self._unpad(self._decrypt_blocks(encrypt))
        if len(framed) < RANDOM_BYTES + LENGTH_BYTES:
            raise DecryptError("the plaintext is shorter than its frame")
        (length,) = struct.unpack(">I", framed[RANDOM_BYTES : RANDOM_BYTES + LENGTH_BYTES])
        start = RANDOM_BYTES + LENGTH_BYTES
        if start + length > len(framed):
            raise DecryptError("the message length runs past the plaintext")
        receive_id = framed[start + length :]
        if not hmac.compare_digest(receive_id, self._receive_id):
            raise ReceiverError("the message is for another corp id")
        try:
            return framed[start : start + length].decode()
        except UnicodeDecodeError as error:
            raise DecryptError("the message is not UTF-8") from error

    def _check_signature(
        self, msg_signature: str, timestamp: str, nonce: str, encrypt: str
    ) -> None:
        expected = signature(self._token, timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, msg_signature.lower()):
            raise SignatureError("msg_signature does not match the token and the message")

    def _decrypt_blocks(self, encrypt: str) -> bytes:
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as error:
            raise DecryptError("the ciphertext is not base64") from error
        if not data or len(data) % 16:
            raise DecryptError("the ciphertext is not whole AES blocks")
        decryptor = self._cipher().decryptor()
        return decryptor.update(data) + decryptor.finalize()

    @staticmethod
    def _unpad(padded: bytes) -> bytes:
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError as error:
            raise DecryptError("bad PKCS#7 padding (another key?)") from error

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))
