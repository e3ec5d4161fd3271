"""Bytes to text for mail: charsets, RFC 2047 encoded words and 8-bit guessing.

RFC 2047 (encoded words), RFC 2231 §5 (language suffix on a charset), RFC 1468 (ISO-2022-JP),
RFC 6532 (raw UTF-8 in headers). Japanese mail is decoded with the Microsoft supersets
(CP932 for Shift_JIS, CP50220-style mapping for ISO-2022-JP, JIS X 0213 for EUC-JP) because
NEC/IBM extension characters such as circled digits are common and the strict codecs reject them.
Nothing here raises on any input.
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re

# Declared names that real mail uses for a narrower charset than the bytes actually hold.
_CODEC_SUPERSETS = {
    "shift_jis": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "x-sjis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ascii": "ascii",
}
# Codecs that are "text encodings" to Python but never a mail charset; some raise on errors=replace.
_REFUSED_CODECS = frozenset({"idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined"})
# ASCII bytes are not ASCII text in these encodings, so the ASCII fast path must skip them (the
# names codecs.lookup gives: "utf-16", "utf-16-le", "iso2022_jp").
NOT_ASCII_COMPATIBLE = ("utf-7", "utf-16", "utf-32", "iso2022", "hz", "cp037", "cp500")

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_JIS_ESCAPE = re.compile(rb"\x1b(\$[@B]|\$\(D|\([BJI])")
# Bytes that are lead bytes in CP932 but never appear in EUC-JP (0x8E/0x8F are EUC-JP SS2/SS3).
_CP932_ONLY = re.compile(rb"[\x81-\x8d\x90-\x9f]")


@functools.lru_cache(maxsize=256)
def codec_for(charset: str) -> str | None:
    """Return the Python codec to decode `charset` with, or None when it is unknown."""
    name = charset.strip().strip('"').lower().split("*", 1)[0]  # RFC 2231 §5 "utf-8*ja"
    name = _CODEC_SUPERSETS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    return _CODEC_SUPERSETS.get(info.name, info.name)


def wire_text(data: bytes) -> str:
    """Decode header bytes losslessly for the wire: UTF-8 (RFC 6532), else Latin-1."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def guess_text(data: bytes) -> str:
    """Decode bytes of unknown charset: ASCII/JIS, UTF-8, then CP932 or EUC-JP, then Latin-1."""
    if data.isascii():
        return decode_iso2022jp(data) if b"\x1b" in data else data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    japanese = ("cp932", "euc_jp") if _CP932_ONLY.search(data) else ("euc_jp", "cp932")
    for codec in japanese:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode `data` declared as `charset`; a missing/ASCII label falls back to guessing."""
    codec = codec_for(charset) if charset else None
    if codec is None and charset and charset.strip().lower() not in ("unknown-8bit", "x-unknown"):
        return data.decode("utf-8", "replace")  # a named but unknown charset: best effort
    if codec is None or codec == "ascii":
        return guess_text(data)
    if data.isascii() and not codec.startswith(NOT_ASCII_COMPATIBLE):
        return data.decode("ascii")
    if codec.startswith("iso2022_jp"):
        return decode_iso2022jp(data)
    if codec == "euc_jp":
        try:
            return data.decode("euc_jp")
        except UnicodeDecodeError:
            return data.decode("euc_jis_2004", "replace")  # NEC row 13 sits in JIS X 0213
    try:
        return data.decode(codec, "replace")
    except Exception:  # a codec that refuses errors="replace" or chokes on its input
        return data.decode("utf-8", "replace")


def decode_iso2022jp(data: bytes) -> str:
    """Decode ISO-2022-JP (RFC 1468) tolerantly, with the CP50220 extensions via CP932."""
    try:
        return data.decode("iso2022_jp")
    except UnicodeDecodeError:
        pass
    pieces = _JIS_ESCAPE.split(data)
    out = [pieces[0].decode("ascii", "replace")]
    for escape, segment in zip(pieces[1::2], pieces[2::2], strict=True):
        if escape in (b"$@", b"$B"):
            out.append(_jis0208_to_cp932(segment).decode("cp932", "replace"))
        elif escape == b"(I":
            out.append(bytes(b | 0x80 if 0x21 <= b <= 0x5F else b for b in segment).decode("cp932", "replace"))
        elif escape == b"$(D":
            out.append((b"\x1b$(D" + segment).decode("iso2022_jp_2", "replace"))
        else:
            out.append(segment.decode("ascii", "replace"))
    return "".join(out)


def _jis0208_to_cp932(segment: bytes) -> bytes:
    """Map JIS X 0208 byte pairs to Shift_JIS so CP932 can decode NEC/IBM extensions too."""
    out = bytearray()
    index = 0
    while index < len(segment):
        first = segment[index]
        second = segment[index + 1] if index + 1 < len(segment) else 0
        if not (0x21 <= first <= 0x7E and 0x21 <= second <= 0x7E):
            out.append(first if first < 0x80 else 0x3F)  # line breaks a mailer forgot to escape
            index += 1
            continue
        lead = ((first - 0x21) >> 1) + 0x81
        lead += 0x40 if lead > 0x9F else 0
        if first & 1:
            trail = second + 0x1F + (1 if second >= 0x60 else 0)
        else:
            trail = second + 0x7E
        out += bytes((lead, trail))
        index += 2
    return bytes(out)


def transfer_decode(data: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding (RFC 2045 §6), tolerating garbage input."""
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
    return data


def decode_base64(data: bytes) -> bytes:
    """Decode base64 after dropping non-alphabet bytes and repairing the padding."""
    cleaned = _BASE64_JUNK.sub(b"", data)
    remainder = len(cleaned) % 4
    if remainder == 1:
        cleaned = cleaned[:-1]
    elif remainder:
        cleaned += b"=" * (4 - remainder)
    try:
        return binascii.a2b_base64(cleaned)
    except (binascii.Error, ValueError):
        return b""


def decode_rfc2047(value: str) -> str:
    """Decode RFC 2047 encoded words; adjacent words in one charset are joined as bytes first.

    Joining before decoding repairs the common breakage of a multibyte character split across two
    encoded words. Whitespace between encoded words is dropped (RFC 2047 §6.2).
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        gap = value[position : match.start()]
        if pending_charset is None or gap.strip(" \t\r\n"):
            if pending_charset is not None:
                out.append(decode_text(bytes(pending), pending_charset))
                pending_charset = None
            out.append(gap)
        charset, kind, text = match.groups()
        encoded = text.encode("ascii", "replace")
        word = decode_base64(encoded) if kind in "Bb" else binascii.a2b_qp(encoded, header=True)
        if pending_charset is not None and charset.lower() != pending_charset:
            out.append(decode_text(bytes(pending), pending_charset))
            pending_charset = None
        if pending_charset is None:
            pending = bytearray()
            pending_charset = charset.lower()
        pending += word
        position = match.end()
    if pending_charset is not None:
        out.append(decode_text(bytes(pending), pending_charset))
    out.append(value[position:])
    return "".join(out)
