"""The audit justification PDF of a review: why the engine recommended what it did, and what the
human decided.

Sections, numbered as in the reference: 1 Executive Summary, 2 Medical Necessity Assessment,
3 Criterion-by-Criterion Evaluation, 4 Validation Checks, 5 Decision Rationale, 6 Documentation
Gaps, 7 Audit Trail, 8 Regulatory Compliance and, after a clinician override, 9 Clinician Override
Record. Pure: the review response and the decision (plain dicts, any field may be missing) in, PDF
bytes out; equal inputs give equal bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Union

from priorauth.documents.letters import provider_name, recommendation_label
from priorauth.documents.render import _EPOCH, _d, _Doc, _join, _l, _s, _when

__all__ = ["SECTIONS", "render_audit"]

SECTIONS = [
    "Executive Summary",
    "Medical Necessity Assessment",
    "Criterion-by-Criterion Evaluation",
    "Validation Checks",
    "Decision Rationale",
    "Documentation Gaps",
    "Audit Trail",
    "Regulatory Compliance",
    "Clinician Override Record",
]

# Confidence = 0.4*criteria + 0.3*extraction + 0.2*compliance + 0.1*policy match (contract, section 3).
_WEIGHTS = [("criteria", "Criteria confidence (average)", 0.4), ("extraction", "Extraction confidence", 0.3),
            ("compliance", "Compliance score", 0.2), ("policy_match", "Policy match", 0.1)]  # fmt: skip
_GREEN, _RED, _AMBER, _GRAY = (0, 115, 55), (175, 20, 20), (165, 100, 0), 110
_STATUS_COLORS = {"MET": _GREEN, "PASS": _GREEN, "COMPLETE": _GREEN, "NOT_MET": _RED, "FAIL": _RED,
                  "INCOMPLETE": _RED, "INSUFFICIENT": _AMBER}  # fmt: skip
_DISCLAIMER = (
    "AI-assisted draft. Coverage policies reflect Medicare LCDs/NCDs only. The recommendation "
    "supports, and does not replace, the judgement of a licensed clinical reviewer."
)

Color = Union[int, tuple[int, int, int]]
Segment = tuple[str, bool, Color]  # text, bold, text color
Cell = Union[str, list[Segment]]


# --- small helpers -------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _tag(template: str, value: Any) -> str:
    """The value in its template, or '' when there is no value."""
    text = _s(value)
    return template.format(text) if text else ""


def _texts(values: Any) -> list[str]:
    return [text for text in (_s(v) for v in _l(values)) if text]


def _agent(review: dict[str, Any], name: str) -> dict[str, Any]:
    return _d(_d(review.get("agent_results")).get(name))


def _criteria(review: dict[str, Any]) -> list[dict[str, Any]]:
    return [_d(c) for c in _l(_agent(review, "coverage").get("criteria_assessment"))]


def _status(value: Any) -> Segment:
    text = _s(value).upper() or "—"
    return (text, True, _STATUS_COLORS.get(text, _GRAY))


def _elapsed(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    return _join([f"{days} d" if days else "", f"{rest // 60} h" if rest >= 60 else "", f"{rest % 60} min"])


def _parse(value: Any) -> datetime | None:
    """A timestamp, or None when absent or unreadable (_when's fallback is not a real time)."""
    parsed = _when(value)
    return None if parsed == _EPOCH else parsed


def _bullets(doc: _Doc, items: list[str], size: float = 9) -> None:
    for item in items:
        doc.use(size)
        doc.keep(size * 0.5)
        doc.line(size * 0.5, "-", doc.l_margin + 2, advance=False)
        doc.put(size * 0.5, item, doc.l_margin + 6)


def _subheading(doc: _Doc, text: str) -> None:
    doc.keep(18)
    doc.y += 2
    doc.text_block(text, 9.5, bold=True, gray=40)
    doc.y += 0.5


def _note(doc: _Doc, text: str) -> None:
    doc.text_block(text, 8.5, gray=_GRAY)


# --- table ---------------------------------------------------------------------------------------

_PAD = 1.2


def _cell_lines(doc: _Doc, cell: Cell, width: float, size: float) -> list[Segment]:
    out: list[Segment] = []
    for text, bold, color in [(cell, False, 0)] if isinstance(cell, str) else cell:
        if text:
            doc.use(size, bold)
            out += [(line, bold, color) for line in doc.wrap(doc.fit(text), width)]
    return out


def _draw(doc: _Doc, widths: list[float], cells: list[list[Segment]], start: int, count: int,
          lh: float, size: float, header: bool = False) -> None:  # fmt: skip
    """Lines start..start+count of each cell as one band; the caller made sure it fits."""
    top, height = doc.y, count * lh + 2 * _PAD
    if header:
        doc.set_fill_color(228, 232, 238)
        doc.rect(doc.l_margin, top, doc.epw, height, style="F")
    x = doc.l_margin
    for lines, width in zip(cells, widths, strict=True):
        for i, (text, bold, color) in enumerate(lines[start : start + count]):
            doc.use(size, bold)
            if isinstance(color, tuple):
                doc.set_text_color(*color)
            else:
                doc.set_text_color(color)
            doc.y = top + _PAD + i * lh
            doc.line(lh, text, x + _PAD, advance=False)
        x += width
    doc.set_text_color(0)
    doc.y = top + height
    doc.set_fill_color(200)
    doc.rect(doc.l_margin, doc.y - 0.15, doc.epw, 0.15, style="F")


def _table(doc: _Doc, columns: list[tuple[str, float]], rows: list[list[Cell]], size: float = 8) -> None:
    """Rows of wrapped cells under a header repeated on every page; a row taller than a page
    continues on the next one."""
    widths = [share * doc.epw for _, share in columns]
    lh = size * 0.5
    head = [_cell_lines(doc, [(name, True, 40)], w - 2 * _PAD, size) for (name, _), w in zip(columns, widths, strict=True)]
    head_lines = max(len(lines) for lines in head)
    head_h = head_lines * lh + 2 * _PAD
    fresh = int((doc.page_break_trigger - doc.t_margin - head_h - 2 * _PAD) // lh)  # lines on a new page

    def new_page() -> None:
        doc.add_page()
        _draw(doc, widths, head, 0, head_lines, lh, size, header=True)

    doc.keep(head_h + 2 * lh + 2 * _PAD)  # never a header alone at the bottom of a page
    _draw(doc, widths, head, 0, head_lines, lh, size, header=True)
    for row in rows:
        cells = [_cell_lines(doc, cell, w - 2 * _PAD, size) for cell, w in zip(row, widths, strict=True)]
        total, start = max(1, *(len(lines) for lines in cells)), 0
        while start < total:
            room = int((doc.page_break_trigger - doc.y - 2 * _PAD) // lh)
            need = total - start
            if need > room and (need <= fresh or room < 3):
                new_page()  # the (rest of the) row fits whole on a new page, or too little room here
                continue
            take = min(need, room)
            _draw(doc, widths, cells, start, take, lh, size)
            start += take
            if start < total:
                new_page()
    doc.y += 2


# --- sections ------------------------------------------------------------------------------------


def _heading(doc: _Doc, number: int) -> None:
    doc.heading(f"{number}. {SECTIONS[number - 1]}")
    doc.y += 1


def _decision_line(decision: dict[str, Any]) -> str:
    if not decision:
        return "Awaiting the decision of a licensed clinical reviewer"
    final = recommendation_label(decision.get("final_recommendation"))
    who = _s(decision.get("decided_by"))
    when = _s(decision.get("decided_at"))
    overridden = " (clinician override)" if decision.get("was_overridden") else ""
    return _join([final + overridden, who and f"by {who}", when and f"at {when}"])


def _confidence_text(review: dict[str, Any]) -> str:
    value = _number(review.get("confidence"))
    return _join([f"{value:.2f}" if value is not None else "", _tag("({})", review.get("confidence_level"))]) or "—"


def _executive_summary(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    request = _d(review.get("request"))
    npi = _s(request.get("provider_npi"))
    provider = provider_name(review)
    _heading(doc, 1)
    doc.row("Review ID", _s(review.get("request_id")))
    doc.row("Patient", _s(request.get("patient_name")))
    doc.row("Date of birth", _s(request.get("patient_dob")))
    doc.row("Member ID", _s(request.get("insurance_id")))
    doc.row("Provider", provider if provider.endswith(npi) else _join([provider, npi and f"(NPI {npi})"]))
    doc.row("Diagnosis codes", _join(_texts(request.get("diagnosis_codes")), ", "))
    doc.row("Procedure codes", _join(_texts(request.get("procedure_codes")), ", "))
    doc.row("Policy", _join(_texts(review.get("policy_references")), "\n"))
    doc.row("AI recommendation", recommendation_label(review.get("recommendation")), bold=True)
    doc.row("Confidence", _confidence_text(review))
    doc.row("Final determination", _decision_line(decision), bold=bool(decision))
    if decision.get("authorization_number"):
        doc.row("Authorization number", _s(decision["authorization_number"]))
    if review.get("summary"):
        doc.y += 1.5
        doc.text_block(_s(review["summary"]), 9)


def _citation(item: dict[str, Any]) -> str:
    ids = _join([_tag("PMID {}", item.get("pmid")), item.get("nct_id"), item.get("url")], " · ")
    return _join([item.get("title"), _join([item.get("source"), _tag("({})", item.get("year"))]), ids], " — ")


def _medical_necessity(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    clinical, coverage = _agent(review, "clinical"), _agent(review, "coverage")
    extraction = _d(clinical.get("clinical_extraction"))
    _heading(doc, 2)
    doc.row("Chief complaint", _s(extraction.get("chief_complaint")))
    confidence = _number(extraction.get("extraction_confidence"))
    doc.row("Extraction confidence", f"{confidence:.0f} / 100" if confidence is not None else None)
    alignment = _d(coverage.get("diagnosis_alignment"))
    if alignment:
        doc.row("Diagnoses aligned", _join(_texts(alignment.get("aligned")), ", ") or "none")
        doc.row("Diagnoses not aligned", _join(_texts(alignment.get("not_aligned")), ", ") or "none")
        if alignment.get("note"):
            doc.row("Alignment note", _s(alignment["note"]))
    for label, text in [("Clinical rationale", review.get("clinical_rationale")),
                        ("Clinical summary", clinical.get("clinical_summary"))]:  # fmt: skip
        if _s(text):
            _subheading(doc, label)
            doc.text_block(_s(text), 9)
    for label, key in [("Coverage criteria met", "coverage_criteria_met"),
                       ("Coverage criteria not met", "coverage_criteria_not_met")]:  # fmt: skip
        _subheading(doc, label)
        _bullets(doc, _texts(review.get(key)) or ["None"])
    citations = [_citation(_d(c)) for c in _l(clinical.get("literature_support")) + _l(clinical.get("clinical_trials"))]
    if any(citations):
        _subheading(doc, "Supporting literature and trials")
        _bullets(doc, [c for c in citations if c], size=8.5)


def _evidence(item: dict[str, Any]) -> list[Segment]:
    quotes: list[Segment] = []
    for ev in map(_d, _l(item.get("evidence"))):
        start, end = _number(ev.get("start")), _number(ev.get("end"))
        span = f" [chars {start:.0f}–{end:.0f}]" if start is not None and end is not None else ""
        quotes.append((f"“{_s(ev.get('text'))}”{span}", False, 0))
    return quotes or [("No supporting text found in the notes", False, _GRAY)]


def _criterion_by_criterion(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    criteria = _criteria(review)
    _heading(doc, 3)
    if not criteria:
        _note(doc, "No policy criteria were assessed for this request (no matching coverage policy).")
        return
    met = sum(1 for c in criteria if _s(c.get("status")).upper() == "MET")
    _note(doc, f"{met} of {len(criteria)} criteria met. Evidence quotes are verbatim from the clinical notes; "
               "the span gives their character positions in the notes.")  # fmt: skip
    doc.y += 1
    rows: list[list[Cell]] = []
    for n, c in enumerate(criteria, 1):
        required = "Required" if c.get("required", True) else "Optional"
        criterion: list[Segment] = [(_s(c.get("criterion")) or _s(c.get("id")) or "—", True, 0),
                                    (required, False, _GRAY), (_s(c.get("rationale")), False, 70)]  # fmt: skip
        confidence = _number(c.get("confidence"))
        rows.append([str(n), criterion, [_status(c.get("status"))],
                     f"{confidence:.0f}" if confidence is not None else "—", _evidence(c)])  # fmt: skip
    columns = [("#", 0.05), ("Criterion", 0.38), ("Status", 0.13), ("Conf.", 0.07),
               ("Evidence (character span in the notes)", 0.37)]  # fmt: skip
    _table(doc, columns, rows)


def _yes_no(value: Any) -> Segment:
    if value is None:
        return ("—", False, _GRAY)
    return ("Yes", False, _GREEN) if value else ("No", True, _RED)


def _validation(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    clinical, coverage, compliance = (_agent(review, k) for k in ("clinical", "coverage", "compliance"))
    request = _d(review.get("request"))
    _heading(doc, 4)

    _subheading(doc, "4.1 Provider")
    verification = _d(coverage.get("provider_verification"))
    doc.row("NPI", _s(verification.get("npi")) or _s(request.get("provider_npi")))
    name = provider_name(review)
    if not name.startswith("NPI "):  # the name is known (else the NPI above says it all)
        doc.row("Provider", name)
    doc.row("Status", _s(verification.get("status")).upper() or None, bold=True)
    for key, value in sorted(verification.items()):
        if key not in ("npi", "status") and not isinstance(value, (dict, list)) and _s(value):
            doc.row(key.replace("_", " ").capitalize(), _s(value))

    _subheading(doc, "4.2 Diagnosis codes")
    diagnoses = [_d(d) for d in _l(clinical.get("diagnosis_validation"))] or [
        {"code": code} for code in _texts(request.get("diagnosis_codes"))
    ]
    _table(doc, [("Code", 0.15), ("Valid", 0.1), ("Billable", 0.1), ("Note", 0.65)],
           [[_s(d.get("code")), [_yes_no(d.get("valid"))], [_yes_no(d.get("billable"))],
             _s(d.get("hierarchy_note") or d.get("note") or d.get("description"))] for d in diagnoses])  # fmt: skip

    _subheading(doc, "4.3 Procedure codes")
    procedures = [_d(p) for p in _l(clinical.get("procedure_validation"))] or [
        {"code": code} for code in _texts(request.get("procedure_codes"))
    ]
    _table(doc, [("Code", 0.15), ("Valid", 0.1), ("Source", 0.3), ("Note", 0.45)],
           [[_s(p.get("code")), [_yes_no(p.get("valid"))], _s(p.get("source")), _s(p.get("note") or p.get("detail"))]
            for p in procedures])  # fmt: skip

    _subheading(doc, "4.4 Compliance checklist")
    checklist = [_d(item) for item in _l(compliance.get("checklist"))]
    if checklist:
        _table(doc, [("Item", 0.35), ("Status", 0.17), ("Detail", 0.48)],
               [[_s(i.get("item")), [_status(i.get("status"))], _s(i.get("detail"))] for i in checklist])  # fmt: skip
    else:
        _note(doc, "No compliance checklist was recorded.")
    doc.row("Overall status", _s(compliance.get("overall_status")).upper() or None, bold=True)
    doc.row("Missing items", _join(_texts(compliance.get("missing_items")), "; ") or "None")


def _confidence_parts(review: dict[str, Any]) -> list[tuple[str, float, float | None, str]]:
    """(component, weight, value 0-1 or None, where the value comes from) for each term."""
    given = _d(review.get("confidence_breakdown"))
    criteria = [v for v in (_number(c.get("confidence")) for c in _criteria(review)) if v is not None]
    extraction = _number(_d(review.get("audit_trail")).get("extraction_confidence"))
    if extraction is None:
        extraction = _number(_d(_agent(review, "clinical").get("clinical_extraction")).get("extraction_confidence"))
    statuses = [_s(_d(i).get("status")).lower() for i in _l(_agent(review, "compliance").get("checklist"))]
    applicable = [s for s in statuses if s in ("complete", "incomplete")]
    policy_match = _number(_agent(review, "coverage").get("policy_match"))
    derived = {
        "criteria": (sum(criteria) / len(criteria) / 100 if criteria else None, "average of the criteria above"),
        "extraction": (extraction / 100 if extraction is not None else None, "clinical extraction"),
        "compliance": (applicable.count("complete") / len(applicable) if applicable else None,
                       "complete items / applicable checklist items"),
        "policy_match": (policy_match, "policy match score"),
    }  # fmt: skip
    parts = []
    for key, label, weight in _WEIGHTS:
        value, source = derived[key]
        if _number(given.get(key)) is not None:
            value, source = _number(given[key]), "reported by the synthesis"
        parts.append((label, weight, value, source))
    return parts


def _decision_rationale(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    _heading(doc, 5)
    gates = [_d(g) for g in _l(review.get("decision_gates"))]
    if gates:
        _table(doc, [("Gate", 0.08), ("Check", 0.2), ("Result", 0.12), ("Detail", 0.6)],
               [[_s(g.get("gate")), _s(g.get("name")).replace("_", " ").capitalize(), [_status(g.get("status"))],
                 _s(g.get("detail"))] for g in gates])  # fmt: skip
    else:
        _note(doc, "No decision gates were recorded.")
    doc.row("Recommendation", recommendation_label(review.get("recommendation")), bold=True)
    doc.row("Rule", "Approve when every gate passes and the confidence level is not LOW; otherwise pend "
                    "for review. The engine never denies.")  # fmt: skip

    _subheading(doc, "Confidence breakdown")
    parts = _confidence_parts(review)
    rows: list[list[Cell]] = []
    for label, weight, value, source in parts:
        shown = f"{value:.2f}" if value is not None else "—"
        contribution = f"{weight * value:.3f}" if value is not None else "—"
        rows.append([label, f"{weight:.1f}", shown, contribution, [(source, False, 70)]])
    _table(doc, [("Component", 0.3), ("Weight", 0.1), ("Value", 0.1), ("Weighted", 0.12), ("Source", 0.38)], rows)
    if all(value is not None for _, _, value, _ in parts):
        doc.row("Recomputed total", f"{sum(w * v for _, w, v, _ in parts if v is not None):.2f}")
    doc.row("Reported confidence", _confidence_text(review), bold=True)
    doc.row("Levels", "HIGH >= 0.80, MEDIUM >= 0.50, otherwise LOW")


def _documentation_gaps(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    _heading(doc, 6)
    gaps = [_d(g) for g in _l(review.get("documentation_gaps"))]
    named = {_s(g.get("what")).lower() for g in gaps}
    others = [m for m in _texts(review.get("missing_documentation")) if m.lower() not in named]
    if not gaps and not others:
        _note(doc, "No documentation gaps were identified.")
        return
    if gaps:
        _table(doc, [("Missing", 0.35), ("Critical", 0.1), ("Request to the provider", 0.55)],
               [[_s(g.get("what")), [("Yes", True, _RED) if g.get("critical") else ("No", False, 0)],
                 _s(g.get("request"))] for g in gaps])  # fmt: skip
    if others:
        _subheading(doc, "Other missing documentation")
        _bullets(doc, others)


def _audit_trail(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    trail = _d(review.get("audit_trail"))
    policy = _d(_agent(review, "coverage").get("policy"))
    _heading(doc, 7)
    doc.row("Review ID", _s(review.get("request_id")))
    doc.row("Review started", _s(trail.get("review_started")))
    doc.row("Review completed", _s(trail.get("review_completed")))
    if review.get("reviewed_at"):
        doc.row("Reviewed at", _s(review["reviewed_at"]))
    for label, key in [("Extraction confidence", "extraction_confidence"),
                       ("Assessment confidence", "assessment_confidence"),
                       ("Criteria met", "criteria_met_count")]:  # fmt: skip
        doc.row(label, _s(trail.get(key)))
    doc.row("Overall confidence", _confidence_text(review))
    if policy:
        doc.row("Policy", _join([policy.get("citation"), policy.get("title")], " — "))
        doc.row("Policy source", _join([policy.get("id"), policy.get("url")], " · "))
    if decision:
        doc.row("Authorization number", _s(decision.get("authorization_number")))
        doc.row("Decided by", _s(decision.get("decided_by")))
        doc.row("API client", _s(decision.get("decided_by_client")))
        doc.row("Decided at", _s(decision.get("decided_at")))
        doc.row("Final recommendation", recommendation_label(decision.get("final_recommendation")))
        doc.row("Overridden", "Yes" if decision.get("was_overridden") else "No")
    _subheading(doc, "Data sources")
    _bullets(doc, _texts(trail.get("data_sources")) or ["None recorded"])


def _timeframe(review: dict[str, Any], decision: dict[str, Any]) -> str:
    rule = ("CMS-0057-F requires a prior authorization decision within 72 hours for an expedited "
            "request and within 7 calendar days for a standard request.")  # fmt: skip
    started = _parse(_d(review.get("audit_trail")).get("review_started")) or _parse(review.get("reviewed_at"))
    decided = _parse(decision.get("decided_at"))
    if started and decided:
        delta = decided - started
        verdict = ("within both limits" if delta <= timedelta(hours=72) else
                   "within the 7-day standard limit, beyond the 72-hour expedited limit"
                   if delta <= timedelta(days=7) else "beyond the 7-day standard limit")  # fmt: skip
        return f"{rule} Review start to decision: {_elapsed(delta)} ({verdict})."
    if started:
        due_fast = (started + timedelta(hours=72)).strftime("%Y-%m-%dT%H:%MZ")
        due = (started + timedelta(days=7)).strftime("%Y-%m-%dT%H:%MZ")
        return f"{rule} No decision recorded yet: due by {due_fast} (expedited) or {due} (standard)."
    return rule


def _regulatory(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    _heading(doc, 8)
    doc.row("AI-assisted draft", _s(review.get("disclaimer")) or _DISCLAIMER)
    human = (f"Decision recorded by {_s(decision.get('decided_by')) or 'a licensed clinical reviewer'} "
             f"at {_s(decision.get('decided_at')) or 'an unrecorded time'}." if decision
             else "No human decision recorded yet; nothing is issued until a licensed reviewer decides.")  # fmt: skip
    doc.row("Human in the loop", "The automated review only recommends; a licensed clinical reviewer "
                                 f"accepts or overrides it. {human}")  # fmt: skip
    denial = _s(decision.get("final_recommendation")) == "deny"
    no_denial = ("The engine recommends only approve or pend for review. Automated recommendation here: "
                 f"{recommendation_label(review.get('recommendation'))}.")  # fmt: skip
    if denial:
        no_denial += (" The denial was issued by a licensed clinician, with a specific reason and the policy "
                      "it rests on, as CMS-0057-F requires for denials.")  # fmt: skip
    doc.row("No automated denial", no_denial)
    doc.row("Decision timeframes", _timeframe(review, decision))


def _override_record(doc: _Doc, review: dict[str, Any], decision: dict[str, Any]) -> None:
    _heading(doc, 9)
    doc.row("Original recommendation", recommendation_label(decision.get("original_recommendation")
                                                            or review.get("recommendation")))  # fmt: skip
    doc.row("Final recommendation", recommendation_label(decision.get("final_recommendation")), bold=True)
    doc.row("Override rationale", _s(decision.get("override_rationale")))
    doc.row("Reviewer", _s(decision.get("decided_by")))
    doc.row("API client", _s(decision.get("decided_by_client")))
    doc.row("Decided at", _s(decision.get("decided_at")))
    doc.row("Authorization number", _s(decision.get("authorization_number")))
    if _s(decision.get("final_recommendation")) == "deny":
        doc.row("Denial reason", _s(decision.get("denial_reason")))
        doc.row("Policy reference", _s(decision.get("policy_reference")))


_BODY: list[Callable[[_Doc, dict[str, Any], dict[str, Any]], None]] = [
    _executive_summary, _medical_necessity, _criterion_by_criterion, _validation,
    _decision_rationale, _documentation_gaps, _audit_trail, _regulatory,
]  # fmt: skip


def _printed(review: dict[str, Any], decision: dict[str, Any]) -> tuple[Any, ...]:
    """What the document may print: the clinical notes and tool logs are not (only quotes are),
    so characters there do not decide the font."""
    agents = {k: {kk: vv for kk, vv in _d(v).items() if kk != "tool_results"}
              for k, v in _d(review.get("agent_results")).items()}  # fmt: skip
    request = {k: v for k, v in _d(review.get("request")).items() if k != "clinical_notes"}
    rest = {k: v for k, v in review.items() if k not in ("request", "agent_results", "tool_results")}
    return (rest, request, agents, decision)


def render_audit(review: dict[str, Any], decision: dict[str, Any] | None = None) -> bytes:
    """The audit justification PDF; with Section 9 when the decision overrode the recommendation."""
    review, decision = _d(review), _d(decision)
    created = _when(decision.get("decided_at"), review.get("reviewed_at"),
                    _d(review.get("audit_trail")).get("review_completed"))  # fmt: skip
    doc = _Doc("Prior authorization audit justification", created, content=_printed(review, decision))
    doc.set_subject("Audit justification of a prior authorization review")
    number = _s(decision.get("authorization_number"))
    doc.footer_text = _join(["Audit justification", _tag("review {}", review.get("request_id")), number], " · ")
    doc.add_page()
    doc.text_block("Audit Justification — Prior Authorization Review", 15, bold=True)
    doc.text_block(_join([_tag("Review {}", review.get("request_id")), _tag("Authorization {}", number),
                          _tag("reviewed {}", review.get("reviewed_at"))], " · "), 8.5, gray=80)  # fmt: skip
    doc.text_block(_s(review.get("disclaimer")) or _DISCLAIMER, 8, gray=90)
    for section in _BODY:
        section(doc, review, decision)
    if decision.get("was_overridden"):
        _override_record(doc, review, decision)
    return doc.done()
