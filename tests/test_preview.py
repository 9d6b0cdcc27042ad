"""Preview renders the filled form and a draft packet without touching the lifecycle."""
from __future__ import annotations

import hashlib
import io

from pypdf import PdfReader

from priorauth.files.models import StoredFile
from priorauth.ids import new_id
from tests.cases import TKA_ANSWERS, complete_tka_case, tiny_pdf, tka_case
from tests.support.images import tiff
from tests.test_errors import assert_envelope

A = "/v1/prior-auth/authorizations"


async def test_preview_renders_documents_and_leaves_the_lifecycle_alone(client):
    auth = (await client.post(A, json=tka_case())).json()
    events_before = (await client.get(f"{A}/{auth['id']}/events")).json()["data"]
    file_id = (await client.post("/v1/files", files={"file": ("n.pdf", tiny_pdf("progress note"))})).json()["id"]
    await client.post(f"{A}/{auth['id']}/attachments", json={"fileId": file_id})
    before = (await client.get(f"{A}/{auth['id']}")).json()

    preview = await client.post(f"{A}/{auth['id']}/preview")
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["submittable"] is False and body["workflowState"] == "needs_input"
    assert {i["code"] for i in body["validationIssues"]} == {"missing_required_answer"}
    assert body["mappingSummary"]["requiredUnanswered"] == len(body["validationIssues"])
    assert body["mappingSummary"]["attachments"] == 1
    # The radiology report is only asked for once the radiographs question is answered yes.
    assert "radiology-report" not in {r.get("id") for r in body["supportingDocumentRequests"]}

    form = await client.get(body["documents"]["filledForm"]["url"])
    packet = await client.get(body["documents"]["draftPacket"]["url"])
    assert form.headers["content-type"] == "application/pdf"
    packet_pages = PdfReader(io.BytesIO(packet.content)).pages
    assert len(packet_pages) == body["documents"]["draftPacket"]["pageCount"]
    assert len(packet_pages) == body["documents"]["filledForm"]["pageCount"] + 1
    assert "progress note" in packet_pages[-1].extract_text()

    after = (await client.get(f"{A}/{auth['id']}")).json()
    assert (after["version"], after["workflowState"]) == (before["version"], before["workflowState"])
    events_after = (await client.get(f"{A}/{auth['id']}/events")).json()["data"]
    assert len(events_after) == len(events_before) + 1  # only the attachment, nothing from preview


async def test_preview_of_a_complete_case_is_submittable_and_replaces_the_previous_one(client):
    auth = (await client.post(A, json=complete_tka_case())).json()
    first = (await client.post(f"{A}/{auth['id']}/preview")).json()
    second = (await client.post(f"{A}/{auth['id']}/preview")).json()
    assert second["submittable"] is True and second["validationIssues"] == []
    requests = {r.get("id") for r in second["supportingDocumentRequests"]}
    assert {"clinical-notes", "radiology-report"} <= requests  # xray-done is answered yes
    gone = await client.get(first["documents"]["filledForm"]["url"])
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    text = PdfReader(io.BytesIO((await client.get(second["documents"]["filledForm"]["url"])).content))
    assert "Lovelace" in "".join(p.extract_text() for p in text.pages)
    assert TKA_ANSWERS["laterality"] in "".join(p.extract_text() for p in text.pages).lower()


async def test_a_50_page_fax_tiff_is_accepted_and_renders_one_page_per_frame(client):
    fax = tiff([(1728, 2200)] * 50)  # 204x196 dpi letter pages
    uploaded = await client.post("/v1/files", files={"file": ("fax.tif", fax, "image/tiff")})
    assert uploaded.status_code == 201, uploaded.text
    auth = (await client.post(A, json=tka_case())).json()
    attached = await client.post(f"{A}/{auth['id']}/attachments", json={"fileId": uploaded.json()["id"]})
    assert attached.status_code == 201, attached.text
    preview = await client.post(f"{A}/{auth['id']}/preview")
    assert preview.status_code == 200, preview.text
    documents = preview.json()["documents"]
    assert documents["draftPacket"]["pageCount"] == documents["filledForm"]["pageCount"] + 50
    packet = PdfReader(io.BytesIO((await client.get(documents["draftPacket"]["url"])).content))
    assert len(packet.pages) == documents["draftPacket"]["pageCount"]


async def _case_with_stored_file(app, client, credentials, filename: str, content_type: str, data: bytes) -> str:
    """A complete case with a file attached that was written straight into the table, as an older version
    accepted it (no upload checks); returns the authorization id."""
    file_id = new_id("file")
    async with app.state.db.write() as session:
        session.add(StoredFile(id=file_id, organization_id=credentials.organization_id, filename=filename,
                               content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                               content=data))
    auth = (await client.post(A, json=complete_tka_case())).json()
    assert (await client.post(f"{A}/{auth['id']}/attachments", json={"fileId": file_id})).status_code == 201
    return auth["id"]


async def test_text_stored_before_the_page_limit_is_refused_before_printing(app, client, credentials):
    """A text attachment of 2 MB of newlines (35,000 pages) is refused by preview from a count of its lines,
    not printed for minutes."""
    auth_id = await _case_with_stored_file(app, client, credentials, "notes.txt", "text/plain", b"\n" * 2 ** 21)
    error = assert_envelope(await client.post(f"{A}/{auth_id}/preview"), 422, "document_unreadable")
    assert "is too large to render" in error["message"] and "PRIORAUTH_MAX_TEXT_PAGES" in error["message"]


async def test_a_bomb_stored_before_uploads_were_checked_is_refused_before_decoding(app, client, credentials):
    """The issue's TIFF (twenty 9000x9000 pages, 1.6 GB decoded): preview and submit refuse it from its
    headers, naming the limit."""
    auth = {"id": await _case_with_stored_file(app, client, credentials, "fax.tif", "image/tiff",
                                               tiff([(9000, 9000)] * 20))}
    preview = await client.post(f"{A}/{auth['id']}/preview")
    error = assert_envelope(preview, 422, "document_unreadable")
    assert "is too large to render" in error["message"] and "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS" in error["message"]
    submit = await client.post(f"{A}/{auth['id']}/submit", headers={"Idempotency-Key": new_id("key")})
    assert "PRIORAUTH_MAX_IMAGE_FRAME_PIXELS" in assert_envelope(submit, 422, "document_unreadable")["message"]
    assert (await client.get(f"{A}/{auth['id']}")).json()["workflowState"] == "ready_to_submit"
