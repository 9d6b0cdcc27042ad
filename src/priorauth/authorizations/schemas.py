"""Wire models of the lifecycle API (camelCase, unknown fields rejected)."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from priorauth.authorizations.medication import CANCEL_REASONS, CLOSED_REASONS, PHARMACY_TYPES

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Finite numbers only: NaN and Infinity are not JSON and PostgreSQL's JSONB refuses them.
AnswerScalar = Union[bool, Annotated[int, Field(ge=-(2**53), le=2**53)], Annotated[float, Field(allow_inf_nan=False)],
                     Annotated[str, StringConstraints(max_length=4000)]]
AnswerValue = Union[AnswerScalar, Annotated[list[AnswerScalar], Field(max_length=50)], None]


def _reject_nul(value: Any) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL (\\u0000) characters")
    elif isinstance(value, dict):
        for key, item in value.items():
            _reject_nul(key)
            _reject_nul(item)
    elif isinstance(value, list):
        for item in value:
            _reject_nul(item)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text and JSONB cannot hold NUL; refuse it at the edge on every backend alike.
        _reject_nul(value)
        return value


class Identifier(Strict):
    type: ShortText
    value: ShortText


class Address(Strict):
    line: Annotated[list[Text], Field(max_length=4)] | None = None
    city: Text | None = None
    state: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    postalCode: Annotated[str, StringConstraints(pattern=r"^\d{5}(-\d{4})?$")] | None = None
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


class Patient(Strict):
    firstName: ShortText | None = None
    lastName: ShortText | None = None
    dateOfBirth: date | None = None
    gender: Literal["male", "female", "other", "unknown"] | None = None
    identifiers: Annotated[list[Identifier], Field(max_length=10)] | None = None
    address: Address | None = None


class Coverage(Strict):
    payerId: Text | None = None
    memberId: ShortText | None = None
    groupNumber: ShortText | None = None
    planType: ShortText | None = None
    insuranceState: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None


ProviderRole = Literal["ordering", "rendering", "referring", "prescribing", "servicing", "attending", "billing"]


class Provider(Strict):
    role: ProviderRole
    firstName: ShortText | None = None
    lastName: ShortText | None = None
    organizationName: Text | None = None
    identifiers: Annotated[list[Identifier], Field(max_length=10)] | None = None
    phone: ShortText | None = None
    fax: ShortText | None = None


class Service(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=20)] | None = None
    codeSystem: Literal["cpt", "hcpcs", "ndc"] | None = None
    description: Text | None = None
    drugName: Text | None = None
    quantity: Annotated[float, Field(gt=0, le=100000)] | None = None
    daysSupply: Annotated[int, Field(ge=1, le=366)] | None = None
    requestedStartDate: date | None = None
    requestedEndDate: date | None = None
    # Medication fields (the `medication_pa` webhook's prescription, refills, cycles and pharmacy type).
    prescriptionId: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    refills: Annotated[int, Field(ge=0, le=99)] | None = None
    numberOfCycles: Annotated[int, Field(ge=1, le=99)] | None = None
    pharmacyType: Literal[PHARMACY_TYPES] | None = None  # type: ignore[valid-type]


class Diagnosis(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=10)]
    codeSystem: Literal["icd_10"] = "icd_10"


class CaseFields(Strict):
    """Everything a client may set on an authorization; the shape of create and of merge patch results."""

    patient: Patient | None = None
    coverage: Coverage | None = None
    providers: Annotated[list[Provider], Field(max_length=20)] | None = None
    service: Service | None = None
    diagnoses: Annotated[list[Diagnosis], Field(max_length=25)] | None = None
    answers: Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], AnswerValue],
                       Field(max_length=500)] | None = None
    urgency: Literal["standard", "expedited"] = "standard"
    externalId: Text | None = None

    @field_validator("answers")
    @classmethod
    def _drop_nulls(cls, value: dict | None) -> dict | None:
        return None if value is None else {k: v for k, v in value.items() if v is not None}


class ResolveAction(Strict):
    attachmentIds: Annotated[list[ShortText], Field(min_length=1, max_length=50)]
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None


class AttachmentCreate(Strict):
    fileId: ShortText
    category: ShortText | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None


class CancelRequest(Strict):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None
    closedReason: Literal[CANCEL_REASONS] | None = None  # type: ignore[valid-type]
    # true: ask the payer to confirm the cancel (pending_payer only); it answers with a sandbox
    # `cancel_confirmed` or `cancel_denied` event. false: cancel at once.
    payerConfirmation: Annotated[bool, Field(strict=True)] = False


class AppealRequest(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] | None = None
    attachmentIds: Annotated[list[ShortText], Field(max_length=50)] = []


class ApprovalEvent(Strict):
    type: Literal["approval"]
    certificationNumber: ShortText
    approvedStartDate: date | None = None
    approvedEndDate: date | None = None
    approvalExpiresAt: datetime | None = None
    documentFileId: ShortText | None = None
    # Amounts the payer approved when it cut the request (a partial denial); above the request -> 422.
    approvedQuantity: Annotated[float, Field(gt=0, le=100000)] | None = None
    approvedDaysSupply: Annotated[int, Field(ge=1, le=366)] | None = None
    approvedRefills: Annotated[int, Field(ge=0, le=99)] | None = None
    approvedCycles: Annotated[int, Field(ge=1, le=99)] | None = None


class DenialEvent(Strict):
    type: Literal["denial"]
    denialReasonCode: ShortText
    denialReasonMessage: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class MoreInfoEvent(Strict):
    type: Literal["more_info_request"]
    message: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    requestedDocuments: Annotated[list[Text], Field(max_length=20)] = []
    responseDueBy: datetime | None = None  # the provider's deadline to answer; must be in the future


PayerMessage = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ClosedEvent(Strict):
    type: Literal["closed"]
    closedReason: Literal[CLOSED_REASONS]  # type: ignore[valid-type]
    message: PayerMessage | None = None


class DeferredEvent(Strict):
    type: Literal["deferred"]
    message: PayerMessage | None = None


class CancelConfirmedEvent(Strict):
    type: Literal["cancel_confirmed"]


class CancelDeniedEvent(Strict):
    type: Literal["cancel_denied"]
    message: PayerMessage | None = None


PayerEvent = Annotated[Union[ApprovalEvent, DenialEvent, MoreInfoEvent, ClosedEvent, DeferredEvent,
                             CancelConfirmedEvent, CancelDeniedEvent], Field(discriminator="type")]
