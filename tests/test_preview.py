"""Preview renders the filled form and a draft packet without touching the lifecycle."""
from __future__ import annotations

import io

from pypdf import PdfReader

from tests.cases import TKA_ANSWERS, complete_tka_case, tiny_pdf, tka_case

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
