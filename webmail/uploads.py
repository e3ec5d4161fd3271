"""Attachments uploaded while composing, kept on disk per session until sent or discarded.

Uploads are data only: stored under a random name with their declared type and size, never
opened, run or served back with a browser-interpreted type.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")
MAX_FILENAME = 200


class UploadTooLarge(ValueError):
    pass


@dataclass
class Upload:
    id: str
    filename: str
    content_type: str
    size: int

    def as_json(self) -> dict:
        return {"id": self.id, "filename": self.filename, "content_type": self.content_type, "size": self.size}


def _directory(token: str) -> Path:
    return Path(settings.YUBIN_WEBMAIL_UPLOAD_DIR) / hashlib.sha256(token.encode()).hexdigest()[:32]


def _clean_filename(filename: str) -> str:
    name = "".join(c for c in filename.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())
    return name.strip()[:MAX_FILENAME] or "attachment"


def upload_store(token: str, filename: str, content_type: str, chunks) -> Upload:  # type: ignore[no-untyped-def]
    """Write the upload; raises UploadTooLarge past the attachment limit (and keeps nothing)."""
    directory = _directory(token)
    directory.mkdir(parents=True, exist_ok=True)
    upload_id = secrets.token_hex(16)
    data_path = directory / f"{upload_id}.bin"
    size = 0
    limit = settings.YUBIN_WEBMAIL_ATTACHMENT_LIMIT
    with data_path.open("wb") as out:
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                out.close()
                data_path.unlink(missing_ok=True)
                raise UploadTooLarge(filename)
            out.write(chunk)
    content_type = content_type if re.fullmatch(r"[\w.+-]+/[\w.+-]+", content_type or "") else ""
    upload = Upload(id=upload_id, filename=_clean_filename(filename), content_type=content_type, size=size)
    (directory / f"{upload_id}.json").write_text(json.dumps(upload.as_json()))
    return upload


def upload_get(token: str, upload_id: str) -> tuple[Upload, bytes] | None:
    if not _UPLOAD_ID.match(upload_id):
        return None
    directory = _directory(token)
    try:
        meta = json.loads((directory / f"{upload_id}.json").read_text())
        data = (directory / f"{upload_id}.bin").read_bytes()
    except (OSError, ValueError):
        return None
    return Upload(**meta), data


def upload_meta(token: str, upload_id: str) -> Upload | None:
    if not _UPLOAD_ID.match(upload_id):
        return None
    try:
        return Upload(**json.loads((_directory(token) / f"{upload_id}.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def upload_delete(token: str, upload_id: str) -> None:
    if _UPLOAD_ID.match(upload_id):
        for suffix in (".bin", ".json"):
            (_directory(token) / f"{upload_id}{suffix}").unlink(missing_ok=True)


def uploads_discard(token: str) -> None:
    shutil.rmtree(_directory(token), ignore_errors=True)
