"""Bytes to text for display: declared charsets with the Japanese supersets, and guessing.

Japanese mail often declares a narrower charset than the bytes hold (NEC/IBM extension
characters such as circled digits in "Shift_JIS" or "ISO-2022-JP" mail), so the Microsoft and
JIS X 0213 supersets are used to decode. Nothing here raises on any input.
"""

from __future__ import annotations

import codecs
import functools

# Declared names mapped to the superset that real mail actually uses.
CODEC_SUPERSETS = {
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "ms932": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "iso2022_jp": "iso2022_jp_ext",
    "euc-jp": "euc_jis_2004",
    "euc_jp": "euc_jis_2004",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "us-ascii": "utf-8",  # undeclared 8-bit in "US-ASCII" mail is nearly always UTF-8
}
# Codecs Python knows that are never a mail charset.
_REFUSED = frozenset({"idna", "punycode", "unicode_escape", "raw_unicode_escape", "undefined", "rot_13"})


@functools.lru_cache(maxsize=128)
def codec_for(charset: str | None) -> str | None:
    """The Python codec for a declared charset, or None when it is unknown or unusable."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower().split("*", 1)[0]  # RFC 2231 §5 language suffix
    name = CODEC_SUPERSETS.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _REFUSED or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def _jis_to_cp932(data: bytes) -> str | None:
    """ISO-2022-JP read as CP50220 does: JIS X 0208 rows mapped onto CP932 (NEC/IBM extensions).

    Python's iso2022_jp codecs reject the NEC row 13 characters (circled digits, ㈱) that
    Japanese mailers put in "ISO-2022-JP" mail; mapping each JIS pair to Shift_JIS and decoding
    with CP932 keeps them. Returns None on an escape sequence this mapping does not cover.
    """
    out = bytearray()
    mode = "ascii"
    index = 0
    length = len(data)
    while index < length:
        byte = data[index]
        if byte == 0x1B:
            sequence = data[index + 1 : index + 3]
            if sequence in (b"(B", b"(J"):
                mode = "ascii"
            elif sequence in (b"$@", b"$B"):
                mode = "jis"
            elif sequence == b"(I":
                mode = "kana"
            else:
                return None
            index += 3
            continue
        if byte in (0x0A, 0x0D):
            mode = "ascii" if mode == "kana" else mode
            out.append(byte)
            index += 1
            continue
        if mode == "jis" and 0x21 <= byte <= 0x7E and index + 1 < length:
            j1, j2 = byte, data[index + 1]
            s1 = ((j1 + 1) >> 1) + (0x70 if j1 <= 0x5E else 0xB0)
            s2 = j2 + (0x1F + (1 if j2 >= 0x60 else 0) if j1 % 2 else 0x7E)
            out += bytes((s1, s2))
            index += 2
            continue
        out.append(byte + 0x80 if mode == "kana" and 0x21 <= byte <= 0x5F else byte)
        index += 1
    try:
        return out.decode("cp932")
    except UnicodeDecodeError:
        return None


def _iso2022jp(data: bytes) -> str:
    converted = _jis_to_cp932(data)
    if converted is not None:
        return converted
    for codec in ("iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("iso2022_jp_ext", errors="replace")


def guess_text(data: bytes) -> str:
    """Decode bytes of unknown charset: ASCII/JIS, UTF-8, then CP932 or EUC-JP, then Latin-1."""
    if data.isascii():
        return _iso2022jp(data) if b"\x1b$" in data or b"\x1b(" in data else data.decode("ascii")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for codec in ("cp932", "euc_jis_2004"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def decode_text(data: bytes, charset: str | None) -> str:
    """Decode `data` declared as `charset`; unknown or wrong labels fall back to guessing."""
    codec = codec_for(charset)
    if codec is None:
        return guess_text(data)
    if codec.startswith("iso2022_jp"):
        return _iso2022jp(data)
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return guess_text(data)
