"""Notification letters for a decided review: approval, pend (more documentation needed) and denial.

Pure functions over the review response and the human decision (plain dicts, any field may be
missing): `letter()` gives the reference's `letter` object without `pdf_base64`, `render_letter()`
its PDF. The PDF prints `body_text` itself, so the JSON and the PDF never disagree.

body_text is plain text: paragraphs separated by blank lines; the first is the title; a one-line
paragraph in capitals is a heading; lines "Label: value" in a paragraph of such lines are
reference fields; lines starting "- " are list items.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from priorauth.documents.render import _d, _Doc, _join, _l, _s, _when

__all__ = [
    "APPEAL_DAYS",
    "APPROVAL_VALID_DAYS",
    "DOCUMENTATION_DAYS",
    "appeal_rights",
    "decision_date",
    "letter",
    "letter_type",
    "provider_name",
    "recommendation_label",
    "render_letter",
]

APPROVAL_VALID_DAYS = 90  # an approval is valid this long from the decision
DOCUMENTATION_DAYS = 30  # a pend gives the provider this long to send what is missing
APPEAL_DAYS = 60  # Medicare Advantage standard reconsideration filing window, 42 CFR 422.582(b)

_LETTER_TYPES = {"approve": "approval", "pend_for_review": "pend", "deny": "denial"}
_TITLES = {
    "approval": "PRIOR AUTHORIZATION — APPROVED",
    "pend": "PRIOR AUTHORIZATION — PENDED: ADDITIONAL DOCUMENTATION NEEDED",
    "denial": "PRIOR AUTHORIZATION — DENIED",
}
_LABELS = {"approve": "Approve", "pend_for_review": "Pend for review", "deny": "Deny"}
_SIGN_OFF = "Sincerely,"
_FIELD = re.compile(r"^[A-Z][A-Za-z /()-]{1,30}: ")


def recommendation_label(value: Any) -> str:
    """'pend_for_review' -> 'Pend for review'; unknown values print as given."""
    return _LABELS.get(_s(value), _s(value) or "—")


def decision_date(review: dict[str, Any], decision: dict[str, Any]) -> date:
    """The day of the decision (UTC); the review's time when the decision has none."""
    review, decision = _d(review), _d(decision)
    return _when(decision.get("decided_at"), review.get("reviewed_at")).astimezone(timezone.utc).date()


def letter_type(review: dict[str, Any], decision: dict[str, Any]) -> str:
    """approval | pend | denial. Anything unrecognized is a pend: never approve or deny by default."""
    final = _s(_d(decision).get("final_recommendation")) or _s(_d(review).get("recommendation"))
    return _LETTER_TYPES.get(final, "pend")


def provider_name(review: dict[str, Any]) -> str:
    """The provider's name when the review knows it (NPPES verification), else 'NPI <npi>'."""
    review = _d(review)
    verification = _d(_d(_d(review.get("agent_results")).get("coverage")).get("provider_verification"))
    for source in (verification, review):
        name = _s(source.get("provider_name") or source.get("name") or source.get("organization_name"))
        name = name or _join([source.get("first_name"), source.get("last_name")])
        if name:
            return name
    npi = _s(_d(review.get("request")).get("provider_npi")) or _s(verification.get("npi"))
    return f"NPI {npi}" if npi else "Requesting provider"


def appeal_rights(authorization_number: str) -> str:
    """How to appeal a denial (Medicare Advantage reconsideration, 42 CFR 422.578-422.590)."""
    quote = f", quoting authorization number {authorization_number}" if authorization_number else ""
    return (
        "You have the right to appeal this decision. You, your representative, or your treating "
        "physician may ask us to reconsider it. Send a written request for reconsideration within "
        f"{APPEAL_DAYS} calendar days from the date of this notice (42 CFR 422.582){quote}, "
        "with any medical records, test results or a letter of medical necessity that support the "
        "request. We decide a standard pre-service reconsideration within 30 calendar days "
        "(42 CFR 422.590). If waiting that long could seriously jeopardize your life, your health or "
        "your ability to regain maximum function, you or your physician may ask for an expedited "
        "(fast) appeal, orally or in writing; if your physician asks for it, or the request meets "
        "these conditions, we decide within 72 hours (42 CFR 422.584). Your physician may also ask "
        "for a peer-to-peer discussion with the reviewer who made this decision. If we uphold the "
        "denial in whole or in part, your case is sent automatically to an Independent Review Entity "
        "for a further, independent review."
    )


def letter(review: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """The reference's `letter` object (without pdf_base64) for this decision."""
    review, decision = _d(review), _d(decision)
    kind = letter_type(review, decision)
    day = decision_date(review, decision)
    number = _s(decision.get("authorization_number"))
    rights = appeal_rights(number) if kind == "denial" else None
    fields = {
        "authorization_number": number,
        "letter_type": kind,
        "effective_date": day.isoformat(),
        "expiration_date": (day + timedelta(APPROVAL_VALID_DAYS)).isoformat() if kind == "approval" else None,
        "patient_name": _s(_d(review.get("request")).get("patient_name")),
        "provider_name": provider_name(review),
        "body_text": "",
        "appeal_rights": rights,
        "documentation_deadline": (day + timedelta(DOCUMENTATION_DAYS)).isoformat() if kind == "pend" else None,
    }
    fields["body_text"] = "\n\n".join(_body(review, decision, fields))
    return fields


# --- body text -----------------------------------------------------------------------------------


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _texts(values: Any) -> list[str]:
    return [text for text in (_s(v) for v in _l(values)) if text]


def _service(review: dict[str, Any]) -> str:
    policy = _d(_d(_d(review.get("agent_results")).get("coverage")).get("policy"))
    return _s(policy.get("title"))


def _reference_fields(review: dict[str, Any], fields: dict[str, Any]) -> str:
    request = _d(review.get("request"))
    rows = [
        ("Authorization number", fields["authorization_number"]),
        ("Date of notice", fields["effective_date"]),
        ("Review ID", _s(review.get("request_id"))),
        ("Patient", fields["patient_name"]),
        ("Date of birth", _s(request.get("patient_dob"))),
        ("Member ID", _s(request.get("insurance_id"))),
        ("Requesting provider", fields["provider_name"]),
        ("Diagnosis codes", _join(_texts(request.get("diagnosis_codes")), ", ")),
        ("Procedure codes", _join(_texts(request.get("procedure_codes")), ", ")),
        ("Service", _service(review)),
    ]
    # One line per field: whitespace inside a value (a newline in a name) would break the layout.
    return "\n".join(f"{label}: {' '.join(value.split())}" for label, value in rows if value.strip())


def _policies(review: dict[str, Any]) -> str:
    return _join(_texts(review.get("policy_references")), "; ")


def _approval(review: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    paragraphs = [
        "We have approved the prior authorization request for the services listed above. This "
        f"authorization is valid from {fields['effective_date']} through {fields['expiration_date']} "
        f"({APPROVAL_VALID_DAYS} days from the decision).",
        "POLICY BASIS",
        f"The request was reviewed against {_policies(review) or 'the applicable coverage policy'}.",
    ]
    met = _texts(review.get("coverage_criteria_met"))
    if met:
        paragraphs.append("Coverage criteria met:\n" + _bullets(met))
    paragraphs += [
        "WHAT HAPPENS NEXT",
        _bullets([
            "The provider may schedule the service within the authorized period. Quote authorization "
            f"number {fields['authorization_number'] or 'above'} on the claim.",
            f"If the service is not performed by {fields['expiration_date']}, a new request is needed.",
            "This approval confirms medical necessity under the policy above. Payment remains subject "
            "to the member's eligibility and benefits on the date of service.",
        ]),
    ]  # fmt: skip
    return paragraphs


def _requests(review: dict[str, Any]) -> list[str]:
    """Each documentation gap with its concrete request, then any other missing item."""
    items, named = [], set()
    for gap in map(_d, _l(review.get("documentation_gaps"))):
        what, ask = _s(gap.get("what")), _s(gap.get("request"))
        if what or ask:
            flag = " (required)" if gap.get("critical") else ""
            items.append(_join([f"{what}{flag}", ask], ": ") if what else ask)
            named.add(what.lower())
    items += [m for m in _texts(review.get("missing_documentation")) if m.lower() not in named]
    return items


def _pend(review: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    deadline = fields["documentation_deadline"]
    requested = _requests(review) or [
        "No specific document has been identified: a licensed clinical reviewer needs to complete "
        "the review. Please send any records that support the medical necessity of the service."
    ]
    return [
        "We need more information to complete the review of this prior authorization request. The "
        "request has not been denied.",
        "DOCUMENTATION REQUESTED",
        _bullets(requested),
        "DEADLINE",
        f"Please send the documentation by {deadline} ({DOCUMENTATION_DAYS} days from this notice), "
        f"quoting authorization number {fields['authorization_number'] or 'above'}. If it has not "
        "arrived by then, a licensed clinical reviewer will decide the request on the information "
        "on file.",
        "WHAT HAPPENS NEXT",
        "When the documentation arrives, the review resumes. A decision is issued within 72 hours for "
        "an expedited request and within 7 calendar days for a standard request.",
    ]


def _denial(review: dict[str, Any], decision: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    reason = _s(decision.get("denial_reason")) or (
        "The documentation submitted does not show that the coverage criteria of the policy below are met."
    )
    policy = _s(decision.get("policy_reference")) or _policies(review) or "the applicable coverage policy"
    paragraphs = [
        "After review by a licensed clinician, we have denied the prior authorization request for the "
        "services listed above.",
        "REASON FOR DENIAL",
        reason,
        "POLICY BASIS",
        f"This decision rests on {policy}.",
    ]
    not_met = _texts(review.get("coverage_criteria_not_met"))
    if not_met:
        paragraphs.append("Coverage criteria not met:\n" + _bullets(not_met))
    paragraphs += ["YOUR APPEAL RIGHTS", _s(fields["appeal_rights"])]
    return paragraphs


def _override(decision: dict[str, Any]) -> list[str]:
    original = recommendation_label(decision.get("original_recommendation"))
    final = recommendation_label(decision.get("final_recommendation"))
    who = _s(decision.get("decided_by")) or "a licensed clinical reviewer"
    when = _s(decision.get("decided_at"))
    text = (
        f"The automated review recommended: {original}. The licensed clinical reviewer {who} "
        f"overrode it to: {final}{f' on {when}' if when else ''}."
    )
    rationale = _s(decision.get("override_rationale"))
    return ["CLINICIAN OVERRIDE NOTICE", text + (f"\nRationale: {rationale}" if rationale else "")]


def _signature(decision: dict[str, Any]) -> str:
    return "\n".join([
        _SIGN_OFF,
        _s(decision.get("decided_by")) or "Licensed clinical reviewer",
        "Licensed clinical reviewer, Utilization Management",
        f"Decided at: {_s(decision.get('decided_at')) or '—'}",
    ])  # fmt: skip


def _body(review: dict[str, Any], decision: dict[str, Any], fields: dict[str, Any]) -> list[str]:
    kind = fields["letter_type"]
    paragraphs = [_TITLES[kind], _reference_fields(review, fields)]
    if kind == "approval":
        paragraphs += _approval(review, fields)
    elif kind == "denial":
        paragraphs += _denial(review, decision, fields)
    else:
        paragraphs += _pend(review, fields)
    if decision.get("was_overridden"):
        paragraphs += _override(decision)
    paragraphs += [
        "Automated tools assisted with this review; the determination was made by the licensed "
        "clinical reviewer named below. For questions about this notice, contact Utilization "
        f"Management and quote authorization number {fields['authorization_number'] or 'above'}.",
        _signature(decision),
    ]
    return [p for p in paragraphs if p]


# --- PDF -----------------------------------------------------------------------------------------


def _is_heading(paragraph: str) -> bool:
    return "\n" not in paragraph and paragraph.isupper() and not paragraph.startswith("- ")


def _is_fields(paragraph: str) -> bool:
    return all(_FIELD.match(line) for line in paragraph.split("\n"))


def _print_paragraph(doc: _Doc, paragraph: str) -> None:
    if _is_heading(paragraph):
        doc.keep(16)  # a heading stays with its first lines
        doc.y += 1.5
        doc.text_block(paragraph, 10, bold=True)
        doc.y += 0.5
        return
    if _is_fields(paragraph):
        for line in paragraph.split("\n"):
            label, _, value = line.partition(": ")
            doc.row(label, value, label_w=44)
        doc.y += 2.5
        return
    for line in paragraph.split("\n"):
        if line.startswith("- "):
            doc.use(9.5)
            doc.keep(5)
            doc.line(4.9, "-", doc.l_margin + 2, advance=False)
            doc.put(4.9, line[2:], doc.l_margin + 6)
        else:
            doc.text_block(line, 9.5)
    doc.y += 2.5


def _print_signature(doc: _Doc, paragraph: str) -> None:
    lines = paragraph.split("\n")
    doc.keep(8 + 5 * len(lines))  # the signature block is never split
    doc.text_block(lines[0], 9.5)
    doc.y += 6
    doc.set_fill_color(120)
    doc.rect(doc.l_margin, doc.y, 70, 0.25, style="F")  # the signature line
    doc.y += 1.5
    if len(lines) > 1:
        doc.text_block(lines[1], 9.5, bold=True)  # the signer
    for line in lines[2:]:  # their role and the time of the decision
        doc.text_block(line, 8.5, gray=70)


def render_letter(review: dict[str, Any], decision: dict[str, Any], fields: dict[str, Any] | None = None) -> bytes:
    """The letter as a PDF. `fields` is the output of letter() when the caller already has it."""
    review, decision = _d(review), _d(decision)
    fields = _d(fields) or letter(review, decision)
    number = _s(fields.get("authorization_number"))
    kind = _s(fields.get("letter_type"))
    title = f"Prior authorization {kind or 'notice'} letter"
    created: datetime = _when(decision.get("decided_at"), review.get("reviewed_at"))
    doc = _Doc(title, created, content=(fields.get("body_text"), number))
    doc.set_subject("Prior authorization determination")
    doc.footer_text = _join([number and f"Authorization {number}", f"{kind} notice" if kind else ""], " · ")
    doc.add_page()

    doc.text_block("Utilization Management · Prior Authorization", 13, bold=True)
    doc.text_block("Notice of prior authorization determination", 8.5, gray=90)
    doc.set_fill_color(40, 60, 110)
    doc.rect(doc.l_margin, doc.y + 1.5, doc.epw, 0.7, style="F")
    doc.y += 6

    paragraphs = _s(fields.get("body_text")).split("\n\n")
    if paragraphs and paragraphs[0]:
        doc.text_block(paragraphs[0], 13, bold=True)  # the title
        doc.y += 3
    for paragraph in paragraphs[1:]:
        if paragraph.startswith(_SIGN_OFF):
            _print_signature(doc, paragraph)
        elif paragraph:
            _print_paragraph(doc, paragraph)
    return doc.done()
