from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from priorauth.auth.deps import Who
from priorauth.errors import ApiError
from priorauth.files import service

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("", status_code=201, summary="Upload a file (PDF, PNG, JPEG, TIFF or plain text)")
async def upload_file(request: Request, who: Who) -> dict:
    form = await request.form(max_files=1, max_fields=5)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(422, "validation_failed", "Send the file as multipart/form-data field 'file'.",
                       issues=[{"path": "file", "message": "field required"}])
    settings = request.app.state.settings
    data = await upload.read(settings.max_file_bytes + 1)
    row = await service.upload(request.app.state.db, who, upload.filename, data, settings.max_file_bytes,
                               settings.image_limits)
    return service.file_json(row)


@router.get("/{file_id}", summary="File metadata")
async def get_file(file_id: str, request: Request, who: Who) -> dict:
    async with request.app.state.db.read() as session:
        return service.file_json(await service.get_file(session, who, file_id))


@router.get("/{file_id}/content", summary="File bytes", response_class=Response)
async def get_file_content(file_id: str, request: Request, who: Who) -> Response:
    async with request.app.state.db.read() as session:
        row = await service.get_file(session, who, file_id, with_content=True)
    return Response(row.content, media_type=service.served_type(row),
                    headers={"Content-Disposition": f'attachment; filename="{row.filename}"'})
