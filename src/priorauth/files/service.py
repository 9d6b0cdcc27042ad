from __future__ import annotations

import hashlib
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from priorauth.auth.service import Principal
from priorauth.config import RenderLimits
from priorauth.db import Database
from priorauth.documents import check_text
from priorauth.documents.limits import TooLargeToRender, check_image
from priorauth.errors import ApiError, not_found
from priorauth.files.models import StoredFile
from priorauth.files.sniff import ALLOWED, IMAGES, MARKUP, sniff
from priorauth.ids import new_id
from priorauth.timeutil import iso

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
MAX_FILENAME = 200  # a stored filename is cut to this


def clean_filename(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE.sub("_", base).strip(" .")[:MAX_FILENAME] or "upload"


def file_json(f: StoredFile) -> dict:
    return {"id": f.id, "object": "file", "filename": f.filename, "contentType": f.content_type,
            "size": f.size, "sha256": f.sha256, "createdAt": iso(f.created_at)}


async def upload(db: Database, who: Principal, filename: str | None, data: bytes, max_bytes: int,
                 render_limits: RenderLimits) -> StoredFile:
    if not data:
        raise ApiError(422, "validation_failed", "The uploaded file is empty.",
                       issues=[{"path": "file", "message": "file is empty"}])
    if len(data) > max_bytes:
        raise ApiError(413, "payload_too_large", f"The file exceeds the limit of {max_bytes} bytes.")
    content_type = sniff(data)
    if content_type == MARKUP:
        raise ApiError(415, "unsupported_file_type", "HTML, SVG and XML documents are not accepted (a browser "
                       f"would run them); send the document as {', '.join(ALLOWED)}.")
    if content_type not in ALLOWED:
        raise ApiError(415, "unsupported_file_type",
                       f"Only {', '.join(ALLOWED)} are accepted; the content matched none of them.")
    try:
        if content_type in IMAGES:
            check_image(data, render_limits)
        elif content_type == "text/plain":
            check_text(data, None, render_limits)
    except TooLargeToRender as exc:
        code = "image_too_large" if content_type in IMAGES else "text_too_long"
        raise ApiError(422, code, f"{exc}.", details={
            "limit": exc.limit, "setting": exc.setting, "maximum": exc.maximum, "actual": exc.actual}) from None
    row = StoredFile(id=new_id("file"), organization_id=who.organization_id, filename=clean_filename(filename),
                     content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(), content=data)
    async with db.write() as session:
        session.add(row)
    return row


def served_type(row: StoredFile) -> str:
    """The type a download is served as: the stored one while the bytes still sniff as it, otherwise
    (say, markup stored as text before uploads refused it) opaque bytes a browser never renders."""
    return row.content_type if sniff(row.content) == row.content_type else "application/octet-stream"


async def get_file(session: AsyncSession, who: Principal, file_id: str, *, with_content: bool = False) -> StoredFile:
    query = select(StoredFile).where(StoredFile.id == file_id, StoredFile.organization_id == who.organization_id)
    if with_content:
        query = query.options(undefer(StoredFile.content))
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise not_found("file", file_id)
    return row
