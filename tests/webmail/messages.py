"""Test messages: plain, HTML with inline image, Japanese in ISO-2022-JP and Shift_JIS."""

from __future__ import annotations

import base64

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def plain(subject: str = "Plain hello", body: str = "Hello from plain text\r\nhttps://example.org/page\r\n") -> bytes:
    return (
        f"From: Bob <bob@elsewhere.example>\r\nTo: taro@example.test\r\nSubject: {subject}\r\n"
        "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <plain-1@elsewhere.example>\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def html(body_html: str, subject: str = "HTML hello") -> bytes:
    return (
        f"From: Alice <alice@elsewhere.example>\r\nTo: taro@example.test\r\nSubject: {subject}\r\n"
        "Date: Mon, 01 Jan 2024 11:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="rel"\r\n\r\n'
        "--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        f"{body_html}\r\n"
        "--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        f"{base64.b64encode(PNG_1PX).decode()}\r\n--rel--\r\n"
    ).encode()


def iso2022jp(subject: str = "日本語の件名", body: str = "こんにちは、世界。①番です。") -> bytes:
    encoded_subject = "=?ISO-2022-JP?B?" + base64.b64encode(subject.encode("iso2022_jp")).decode() + "?="
    name = "=?ISO-2022-JP?B?" + base64.b64encode("佐藤 花子".encode("iso2022_jp")).decode() + "?="
    body_bytes = body.replace("①", "").encode("iso2022_jp")
    if "①" in body:  # NEC row 13, as CP50220 writes it
        head, tail = body.split("①", 1)
        body_bytes = head.encode("iso2022_jp") + b"\x1b$B-!\x1b(B" + tail.encode("iso2022_jp")
    return (
        (
            f"From: {name} <sato@elsewhere.example>\r\nTo: taro@example.test\r\nSubject: {encoded_subject}\r\n"
            "Date: Mon, 01 Jan 2024 12:00:00 +0900\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        ).encode()
        + body_bytes
        + b"\r\n"
    )


def shift_jis_with_attachment() -> bytes:
    filename = "見積書.txt"
    return (
        "From: tanaka@elsewhere.example\r\nTo: taro@example.test\r\n"
        "Subject: =?Shift_JIS?B?" + base64.b64encode("見積もり".encode("cp932")).decode() + "?=\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=Shift_JIS\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode("お見積もりを送ります。".encode("cp932")).decode()
        + "\r\n--b\r\nContent-Type: text/plain; name*=UTF-8''"
        + "%E8%A6%8B%E7%A9%8D%E6%9B%B8.txt\r\n"
        + "Content-Disposition: attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.txt\r\n"
        + "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.b64encode(f"{filename} content".encode()).decode()
        + "\r\n--b--\r\n"
    ).encode()
