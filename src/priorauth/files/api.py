from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from priorauth.auth.deps import Who
from priorauth.errors import ApiError, binary, responses
from priorauth.files import service

router = APIRouter(prefix="/v1/files", tags=["files"])
# The form is read by hand (one file, a few fields, a size limit while it streams), so its schema is declared here.
_UPLOAD = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "PDF, PNG, JPEG, TIFF or UTF-8 text; its type comes from its bytes"}}}}}}}
SERVED_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/tiff", "text/plain",
                "application/octet-stream")


@router.post("", status_code=201, summary="Upload a file (PDF, PNG, JPEG, TIFF or plain text)", openapi_extra=_UPLOAD,
             responses=responses({
                 413: "`payload_too_large`: the file is over the upload limit",
                 415: "`unsupported_file_type`: not one of the accepted types, or markup a browser would run",
                 422: "`validation_failed`: no `file` field, or an empty file; `image_too_large`: over an image limit"}))
async def upload_file(request: Request, who: Who) -> dict:
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "validation_failed", "Send the file as multipart/form-data field 'file'.",
                       issues=[{"path": "file", "message": "field required"}])
    settings = request.app.state.settings
    data = await upload.read(settings.max_file_bytes + 1)
    row = await service.upload(request.app.state.db, who, upload.filename, data, settings.max_file_bytes,
                               settings.render_limits)
    return service.file_json(row)


@router.get("/{file_id}", summary="File metadata")
async def get_file(file_id: str, request: Request, who: Who) -> dict:
    async with request.app.state.db.read() as session:
        return service.file_json(await service.get_file(session, who, file_id))


@router.get("/{file_id}/content", summary="File bytes", response_class=Response,
            responses=binary("The file, as the type sniffed from its bytes", *SERVED_TYPES))
async def get_file_content(file_id: str, request: Request, who: Who) -> Response:
    async with request.app.state.db.read() as session:
        row = await service.get_file(session, who, file_id, with_content=True)
    return Response(row.content, media_type=service.served_type(row),
                    headers={"Content-Disposition": f'attachment; filename="{row.filename}"'})
