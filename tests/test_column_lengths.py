"""Every string a request may carry fits the column it is stored in, on every database.

The maxima come from the wire schemas: every string with a `maxLength` in the app's own OpenAPI
document (request bodies, query, header and path parameters), plus the few bodies validated outside
pydantic. Where each one lands is this test's table, checked for completeness against those maxima,
so a new bounded string fails here until someone says where it is stored. Then, on each database:
the reflected column (not the model) must be at least as long as the maximum, and every string stored
in a bounded column is sent at its maximum length through the real HTTP API and read back from that
column (which also proves the table right). SQLite ignores VARCHAR lengths; PostgreSQL refuses a
longer value with a 500, which is what this test exists to prevent.
"""
from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
import sqlalchemy as sa

from priorauth.files.service import MAX_FILENAME
from priorauth.models import Base
from priorauth.workflows.rules import MAX_NAME as MAX_POLICY_NAME
from tests.cases import complete_tka_case, tiny_pdf, tka_case
from tests.review.test_review_api import REQUEST as REVIEW_REQUEST

A = "/v1/prior-auth/authorizations"
W = "/api/v1/workflows"

JSON_VALUE = "inside a JSON column"  # stored, but in a JSON document: no length to exceed
COMPARED = "only compared (a lookup or a filter), never stored"

# Bounded strings the OpenAPI document cannot describe: bodies validated by our own code.
OTHER_MAXIMA = {
    "POST /api/v1/policies body.name": MAX_POLICY_NAME,  # workflows/rules.py
    "POST /v1/files multipart.file.filename": MAX_FILENAME,  # files/service.py cuts longer names
}

_PROVIDER = "priorauth__authorizations__schemas__Provider"
STORED: dict[str, str | tuple[str, ...]] = {
    # lifecycle: the case (authorizations.case_data), with two fields copied out for filtering
    "Address.city": JSON_VALUE, "Address.line[]": JSON_VALUE,
    "Patient.firstName": JSON_VALUE, "Patient.lastName": JSON_VALUE,
    "Identifier.type": JSON_VALUE, "Identifier.value": JSON_VALUE,
    "Coverage.payerId": "authorizations.payer_id", "Coverage.memberId": JSON_VALUE,
    "Coverage.groupNumber": JSON_VALUE, "Coverage.planType": JSON_VALUE,
    f"{_PROVIDER}.firstName": JSON_VALUE, f"{_PROVIDER}.lastName": JSON_VALUE,
    f"{_PROVIDER}.organizationName": JSON_VALUE, f"{_PROVIDER}.phone": JSON_VALUE, f"{_PROVIDER}.fax": JSON_VALUE,
    "Service.code": JSON_VALUE, "Service.description": JSON_VALUE, "Service.drugName": JSON_VALUE,
    "Service.prescriptionId": JSON_VALUE, "Diagnosis.code": JSON_VALUE,
    "CaseFields.answers{}": JSON_VALUE, "CaseFields.answers{}[]": JSON_VALUE,
    "CaseFields.externalId": "authorizations.external_id",
    "POST /v1/prior-auth/authorizations header.Idempotency-Key": "authorizations.idempotency_key",
    "POST /v1/prior-auth/authorizations/{authorization_id}/submit header.Idempotency-Key":
        "submission_attempts.idempotency_key",
    "POST /v1/prior-auth/authorizations/{authorization_id}/appeal header.Idempotency-Key": JSON_VALUE,
    "PATCH /v1/prior-auth/authorizations/{authorization_id} header.If-Match": COMPARED,
    "GET /v1/prior-auth/authorizations query.payerId": COMPARED,
    "GET /v1/prior-auth/authorizations query.externalId": COMPARED,
    "GET /v1/prior-auth/authorizations query.cursor": COMPARED,
    "GET /v1/prior-auth/authorizations/{authorization_id}/events query.cursor": COMPARED,
    # lifecycle: attachments, actions, appeals, cancels, sandbox payer events (authorizations.decision_details)
    "AttachmentCreate.fileId": COMPARED,
    "AttachmentCreate.category": "authorization_attachments.category",
    "AttachmentCreate.description": "authorization_attachments.description",
    "ResolveAction.attachmentIds[]": JSON_VALUE, "ResolveAction.note": JSON_VALUE,
    "AppealRequest.reason": JSON_VALUE, "AppealRequest.notes": JSON_VALUE, "AppealRequest.attachmentIds[]": JSON_VALUE,
    "CancelRequest.reason": JSON_VALUE,
    "ApprovalEvent.certificationNumber": JSON_VALUE, "ApprovalEvent.documentFileId": JSON_VALUE,
    "DenialEvent.denialReasonCode": JSON_VALUE, "DenialEvent.denialReasonMessage": JSON_VALUE,
    "MoreInfoEvent.message": "authorization_actions.message", "MoreInfoEvent.requestedDocuments[]": JSON_VALUE,
    "ClosedEvent.message": JSON_VALUE, "DeferredEvent.message": JSON_VALUE, "CancelDeniedEvent.message": JSON_VALUE,
    "POST /v1/files multipart.file.filename": "files.filename",
    # webhooks and organization events
    "EndpointCreate.url": "webhook_endpoints.url", "EndpointPatch.url": "webhook_endpoints.url",
    "EndpointCreate.description": "webhook_endpoints.description",
    "EndpointPatch.description": "webhook_endpoints.description",
    "EndpointCreate.eventTypes[]": JSON_VALUE, "EndpointPatch.eventTypes[]": JSON_VALUE,
    "GET /v1/webhooks/endpoints/{endpoint_id}/deliveries query.cursor": COMPARED,
    "GET /v1/events query.cursor": COMPARED,
    # review face
    "PriorAuthRequest.patient_name": "reviews.patient_name",
    "PriorAuthRequest.patient_dob": JSON_VALUE, "PriorAuthRequest.provider_npi": JSON_VALUE,
    "PriorAuthRequest.insurance_id": JSON_VALUE, "PriorAuthRequest.clinical_notes": JSON_VALUE,
    "DecisionRequest.request_id": COMPARED,
    "DecisionRequest.reviewer_name": "review_decisions.decided_by",
    "DecisionRequest.override_rationale": "review_decisions.override_rationale",
    "DecisionRequest.denial_reason": "review_decisions.denial_reason",
    # workflow control plane
    "WorkflowCreate.workflow_name": "workflows.workflow_name", "WorkflowCreate.trace_id": "workflows.trace_id",
    "WorkflowEnd.reason": "workflows.status_reason",
    "GateRequest.step_name": "workflow_steps.step_name", "GateRequest.model": "workflow_steps.model",
    "GateRequest.provider": "workflow_steps.provider", "GateRequest.idempotency_key": "workflow_steps.idempotency_key",
    "CompleteRequest.idempotency_key": COMPARED,
    "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/gate path.step_id":
        ("workflow_steps.step_id", "workflow_approvals.step_id", "workflow_audit.step_id"),
    "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/complete path.step_id": COMPARED,
    "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/approve path.step_id": COMPARED,
    "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/reject path.step_id": COMPARED,
    "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/approve header.X-User-ID":
        ("workflow_approvals.decided_by", "workflow_audit.actor"),
    "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/reject header.X-User-ID":
        ("workflow_approvals.decided_by", "workflow_audit.actor"),
    "RejectRequest.reason": ("workflow_approvals.rejection_reason", "workflows.status_reason"),
    "POST /api/v1/policies body.name": "workflow_policies.name",
    "GET /api/v1/workflows query.cursor": COMPARED,
    "GET /api/v1/workflows/approvals/pending query.workflow_id": COMPARED,
}


def wire_maxima(openapi: dict) -> dict[str, int]:
    """`{where: maxLength}` for every bounded string a request can carry, from the OpenAPI document."""
    components = openapi["components"]["schemas"]
    found: dict[str, int] = {}

    def walk(schema: dict, where: str, seen: frozenset[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:  # a model that contains itself is walked once
                walk(components[name], name, seen | {name})
            return
        for combined in ("anyOf", "oneOf", "allOf"):
            for part in schema.get(combined, []):
                walk(part, where, seen)
        if schema.get("type") == "string" and "maxLength" in schema:
            found[where] = max(found.get(where, 0), schema["maxLength"])
        for name, part in schema.get("properties", {}).items():
            walk(part, f"{where}.{name}", seen)
        for key, suffix in (("items", "[]"), ("additionalProperties", "{}"), ("propertyNames", "{key}")):
            if isinstance(schema.get(key), dict):
                walk(schema[key], where + suffix, seen)

    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                walk(parameter["schema"], f"{method.upper()} {path} {parameter['in']}.{parameter['name']}",
                     frozenset())
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk(content["schema"], f"{method.upper()} {path} body", frozenset())
    return found | OTHER_MAXIMA


def _columns(key: str) -> tuple[str, ...]:
    where = STORED[key]
    return () if where in (JSON_VALUE, COMPARED) else ((where,) if isinstance(where, str) else where)


def _bounded(column: str) -> bool:
    table, name = column.split(".")
    return getattr(Base.metadata.tables[table].c[name].type, "length", None) is not None


@pytest.fixture
async def maxima(client) -> dict[str, int]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return wire_maxima(response.json())


async def test_every_bounded_wire_string_says_where_it_is_stored(maxima):
    unmapped = sorted(set(maxima) - set(STORED))
    assert not unmapped, f"map these wire strings to their column(s), JSON_VALUE or COMPARED: {unmapped}"
    stale = sorted(set(STORED) - set(maxima))
    assert not stale, f"no longer bounded strings of the wire schemas: {stale}"


async def test_every_column_is_at_least_as_long_as_its_wire_maximum(app, maxima):
    """The database's own columns (reflected), so a migration that disagrees with the models is caught too."""
    def reflect(conn) -> dict[str, int | None]:
        inspector = sa.inspect(conn)
        return {f"{table}.{column['name']}": getattr(column["type"], "length", None)
                for table in inspector.get_table_names() for column in inspector.get_columns(table)}

    async with app.state.db.writer.connect() as conn:
        lengths = await conn.run_sync(reflect)
    too_short = []
    for key, maximum in sorted(maxima.items()):
        for column in _columns(key):
            assert column in lengths, f"{key}: no column {column} in the database"
            if lengths[column] is not None and lengths[column] < maximum:
                too_short.append(f"{key} (max {maximum}) -> {column} ({lengths[column]})")
    assert not too_short, f"columns shorter than the wire allows: {too_short}"


# ---------------------------------------------------------------- each bounded column, end to end

class Sent:
    """Values at the wire maximum, one per key, each unique so that it can be found in its column."""

    def __init__(self, maxima: dict[str, int]):
        self.maxima, self.values = maxima, {}

    def __call__(self, key: str) -> str:
        value = uuid.uuid4().hex
        self.values[key] = value + "x" * (self.maxima[key] - len(value))
        return self.values[key]


def _ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def _lifecycle(client: httpx.AsyncClient, v: Sent) -> None:
    case = tka_case(externalId=v("CaseFields.externalId"))
    case["coverage"]["payerId"] = v("Coverage.payerId")
    _ok(await client.post(A, json=case, headers={"Idempotency-Key": v(
        "POST /v1/prior-auth/authorizations header.Idempotency-Key")}), 201)
    auth = _ok(await client.post(A, json=complete_tka_case()), 201)
    _ok(await client.post(f"{A}/{auth['id']}/submit", headers={"Idempotency-Key": v(
        "POST /v1/prior-auth/authorizations/{authorization_id}/submit header.Idempotency-Key")}))
    filename = v("POST /v1/files multipart.file.filename")
    file = _ok(await client.post("/v1/files", files={"file": (filename + "-cut.pdf", tiny_pdf(), "application/pdf")}),
               201)
    assert file["filename"] == filename
    _ok(await client.post(f"{A}/{auth['id']}/attachments", json={
        "fileId": file["id"], "category": v("AttachmentCreate.category"),
        "description": v("AttachmentCreate.description")}), 201)


async def _workflows(client: httpx.AsyncClient, v: Sent) -> None:
    step = "POST /api/v1/workflows/{workflow_id}/steps/{step_id}"
    _ok(await client.post("/api/v1/policies", json={
        "name": v("POST /api/v1/policies body.name"), "type": "context_aware", "category": "dynamic-compliance",
        "conditions": [{"field": "step_input.medication_class", "operator": "equals", "value": "biologic"}],
        "actions": [{"type": "require_approval", "config": {"reason": "biologics need a reviewer"}}]}), 201)
    wf = _ok(await client.post(W, json={"workflow_name": v("WorkflowCreate.workflow_name"),
                                        "trace_id": v("WorkflowCreate.trace_id")}), 201)["workflow_id"]
    held = {"step_type": "tool_call", "step_input": {"medication_class": "biologic"}}
    step_id = v(f"{step}/gate path.step_id")
    gate = _ok(await client.post(f"{W}/{wf}/steps/{step_id}/gate", json={
        **held, "step_name": v("GateRequest.step_name"), "model": v("GateRequest.model"),
        "provider": v("GateRequest.provider"), "idempotency_key": v("GateRequest.idempotency_key")}))
    assert gate["decision"] == "require_approval", gate
    _ok(await client.post(f"{W}/{wf}/steps/{step_id}/approve",
                          headers={"X-User-ID": v(f"{step}/approve header.X-User-ID")}))
    assert _ok(await client.post(f"{W}/{wf}/steps/other/gate", json={**held, "step_name": "other"}))[
        "decision"] == "require_approval"
    _ok(await client.post(f"{W}/{wf}/steps/other/reject", json={"reason": "not medically necessary"},
                          headers={"X-User-ID": v(f"{step}/reject header.X-User-ID")}))


async def _review(client: httpx.AsyncClient, v: Sent) -> None:
    review = _ok(await client.post("/api/review", json={**REVIEW_REQUEST,
                                                         "patient_name": v("PriorAuthRequest.patient_name")}))
    _ok(await client.post("/api/decision", json={"request_id": review["request_id"], "action": "accept",
                                                 "reviewer_name": v("DecisionRequest.reviewer_name")}))


Scenario = Callable[[httpx.AsyncClient, Sent], Awaitable[None]]
SCENARIOS: dict[str, tuple[Scenario, tuple[str, ...]]] = {
    "lifecycle": (_lifecycle, ("CaseFields.externalId", "Coverage.payerId",
                               "POST /v1/prior-auth/authorizations header.Idempotency-Key",
                               "POST /v1/prior-auth/authorizations/{authorization_id}/submit header.Idempotency-Key",
                               "POST /v1/files multipart.file.filename",
                               "AttachmentCreate.category", "AttachmentCreate.description")),
    "workflows": (_workflows, ("POST /api/v1/policies body.name", "WorkflowCreate.workflow_name",
                               "WorkflowCreate.trace_id", "GateRequest.step_name", "GateRequest.model",
                               "GateRequest.provider", "GateRequest.idempotency_key",
                               "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/gate path.step_id",
                               "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/approve header.X-User-ID",
                               "POST /api/v1/workflows/{workflow_id}/steps/{step_id}/reject header.X-User-ID")),
    "review": (_review, ("PriorAuthRequest.patient_name", "DecisionRequest.reviewer_name")),
}


def test_the_scenarios_send_every_string_stored_in_a_bounded_column():
    in_bounded_columns = {key for key in STORED if any(_bounded(column) for column in _columns(key))}
    sent = {key for _, keys in SCENARIOS.values() for key in keys}
    assert sent == in_bounded_columns, (sorted(in_bounded_columns - sent), sorted(sent - in_bounded_columns))


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_strings_at_their_maximum_are_stored_whole(app, client, maxima, scenario):
    run, keys = SCENARIOS[scenario]
    sent = Sent(maxima)
    await run(client, sent)
    assert set(sent.values) == set(keys)
    async with app.state.db.read() as session:
        for key, value in sent.values.items():
            for column in _columns(key):
                table, name = column.split(".")
                found = (await session.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {name} = :value"),
                                               {"value": value})).scalar_one()
                assert found >= 1, f"{key}: the value sent at its maximum ({len(value)}) is not in {column}"
