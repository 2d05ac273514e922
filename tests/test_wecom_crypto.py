"""WeCom's callback crypto against the published sample vectors, round trips, and refusals."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wecom.crypto import (
    AesKeyError,
    DecryptError,
    ReceiverError,
    SignatureError,
    WeComCrypto,
    signature,
)
from bot.wecom.xmlfields import WeComXmlError, build_xml, parse_fields

# The sample of Tencent's WXBizMsgCrypt SDKs (企业微信 加解密库 Sample: VerifyURL, DecryptMsg).
TOKEN = "QDG6eK"
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
ECHOSTR = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)
POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUp"
    "j911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue"
    "06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+"
    "3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH"
    "27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8"
    "R07+qN+E7Q=="
)
POST_BODY = (
    f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{POST_ENCRYPT}]]>"
    "</Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
)


@pytest.fixture
def crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def test_url_verification_of_the_sample(crypto: WeComCrypto) -> None:
    echo = crypto.verify_url(
        "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", ECHOSTR
    )
    assert echo == "1616140317555161061"


def test_decrypts_the_sample_post(crypto: WeComCrypto) -> None:
    plain = crypto.decrypt_message(
        "477715d11cdb4164915debcba66cb864d751f3e6", "1409659813", "1372623149", POST_BODY
    )
    fields = parse_fields(plain)
    assert fields["FromUserName"] == "mycreate"
    assert fields["MsgType"] == "text"
    assert fields["Content"] == "hello"
    assert fields["AgentID"] == "218"


def test_encrypts_the_java_sdk_vector_byte_for_byte() -> None:
    # WXBizMsgCryptTest.java of the 公众平台 SDK: the 16 random bytes fixed to "aaaabbbbccccdddd".
    crypto = WeComCrypto(
        "pamtest",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "wxb11529c136998cb6",
        random_bytes=lambda n: b"aaaabbbbccccdddd"[:n],
    )
    assert crypto.encrypt("我是中文abcd123") == (
        "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    )


@pytest.mark.parametrize("message", ["", "x", "a" * 12, "你好，科协" * 40, "]]>&<"])
def test_reply_round_trip(crypto: WeComCrypto, message: str) -> None:
    reply = crypto.encrypt_reply(message, "1700000000", "42")
    fields = parse_fields(reply)
    assert fields["TimeStamp"] == "1700000000"
    assert fields["Nonce"] == "42"
    assert fields["MsgSignature"] == signature(TOKEN, "1700000000", "42", fields["Encrypt"])
    assert crypto.decrypt_message(fields["MsgSignature"], "1700000000", "42", reply) == message


def test_ciphertext_is_padded_to_32_byte_multiples(crypto: WeComCrypto) -> None:
    for size in range(0, 70):
        raw = base64.b64decode(crypto.encrypt("m" * size))
        assert len(raw) % 32 == 0
        assert len(raw) > 16 + 4 + size + len(CORP_ID)


def test_wrong_signature_is_refused(crypto: WeComCrypto) -> None:
    with pytest.raises(SignatureError):
        crypto.verify_url("0" * 40, "1409659589", "263014780", ECHOSTR)
    with pytest.raises(SignatureError):  # a replayed signature with another timestamp
        crypto.decrypt_message(
            "477715d11cdb4164915debcba66cb864d751f3e6", "1409659814", "1372623149", POST_BODY
        )


def test_another_corp_id_is_refused() -> None:
    other = WeComCrypto(TOKEN, AES_KEY, "ww0000000000000000")
    with pytest.raises(ReceiverError):
        other.verify_url(
            "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "1409659589", "263014780", ECHOSTR
        )


def test_another_key_fails_on_padding_or_frame() -> None:
    other = WeComCrypto(TOKEN, "A" * 43, CORP_ID)
    with pytest.raises(DecryptError):
        other.decrypt(ECHOSTR)


def test_bad_padding_is_refused(crypto: WeComCrypto) -> None:
    # Encrypt 32 bytes whose last byte claims 33 bytes of padding, with the same key and IV.
    key = base64.b64decode(AES_KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    raw = encryptor.update(b"\x00" * 31 + b"\x21") + encryptor.finalize()
    with pytest.raises(DecryptError, match="padding"):
        crypto.decrypt(base64.b64encode(raw).decode())


@pytest.mark.parametrize("encrypt", ["not base64!", "", base64.b64encode(b"x" * 17).decode()])
def test_unreadable_ciphertext_is_refused(crypto: WeComCrypto, encrypt: str) -> None:
    with pytest.raises(DecryptError):
        crypto.decrypt(encrypt)


def test_a_length_past_the_plaintext_is_refused() -> None:
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID, random_bytes=lambda n: b"r" * n)
    framed_lie = crypto.encrypt("short")
    # Encrypt a frame whose length field claims more than there is.
    key = base64.b64decode(AES_KEY + "=")
    padder = padding.PKCS7(256).padder()
    plain = padder.update(b"r" * 16 + (999).to_bytes(4, "big") + b"short") + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    lie = base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()
    assert crypto.decrypt(framed_lie) == "short"
    with pytest.raises(DecryptError, match="length"):
        crypto.decrypt(lie)


@pytest.mark.parametrize("key", ["short", "!" * 43, "A" * 42 + "="])
def test_bad_encoding_aes_key_is_refused(key: str) -> None:
    with pytest.raises(AesKeyError):
        WeComCrypto(TOKEN, key, CORP_ID)


def test_a_body_without_encrypt_is_refused(crypto: WeComCrypto) -> None:
    with pytest.raises(DecryptError, match="Encrypt"):
        crypto.decrypt_message("0" * 40, "1", "2", "<xml><ToUserName>x</ToUserName></xml>")


def test_entity_expansion_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>'
    )
    with pytest.raises(WeComXmlError):
        parse_fields(bomb)
    with pytest.raises(WeComXmlError):
        parse_fields("<xml><unclosed></xml>")
    with pytest.raises(WeComXmlError, match="root"):
        parse_fields("<html></html>")


def test_xml_written_is_read_back() -> None:
    fields = {"ToUserName": "zhangsan", "CreateTime": 1700000000, "Content": "a]]>b <c> & d"}
    assert parse_fields(build_xml(fields)) == {k: str(v) for k, v in fields.items()}
