"""The review pipeline: preflight, then the four agents in the reference's phases. Pure and deterministic.

`Review` runs one phase at a time so the streaming route can report progress between phases; `run`
runs them all. The provider's registry status is looked up by the caller (I/O) and passed in.
"""
from __future__ import annotations

from datetime import datetime

from priorauth.review import clinical, compliance, coverage, synthesis
from priorauth.timeutil import iso

DATA_SOURCES = ["CPT/HCPCS Format Validation (Local)", "NPI check digit and NPPES table (Local)",
                "ICD-10-CM Code Set (simple-icd-10-cm, Local)", "Clinical NLP (medspaCy ConText, Local)",
                "priorauth Coverage Policy Library (Medicare NCD/LCD, Offline)"]

# (phase, progress when running, progress when completed, message, the agents it runs and what they do)
PHASES = (
    ("preflight", None, 5, "Validating request and procedure code formats", {}),
    ("phase_1", 10, 40, "Running Compliance and Clinical agents in parallel", {
        "compliance": "Checking documentation completeness",
        "clinical": "Validating codes and extracting clinical evidence"}),
    ("phase_2", 45, 70, "Running Coverage agent", {
        "coverage": "Verifying provider and assessing policy criteria"}),
    ("phase_3", 75, 90, "Running Synthesis agent", {
        "synthesis": "Applying decision gates and scoring confidence"}),
    ("phase_4", 92, 100, "Recording audit trail", {}),
)
AGENTS = ("compliance", "clinical", "coverage", "synthesis")


class Review:
    def __init__(self, request_id: str, request: dict, provider: dict, extractor, started: datetime):
        self.request_id, self.request, self.provider, self.extractor = request_id, request, provider, extractor
        self.started = started
        self.results: dict[str, dict] = {}
        self.statuses = {agent: {"status": "pending", "detail": "Waiting"} for agent in AGENTS}

    def run_phase(self, phase: str) -> None:
        request = self.request
        if phase == "preflight":
            self.results["procedures"] = {"validation": clinical.procedure_validation(request["procedure_codes"])}
        elif phase == "phase_1":
            self.results["compliance"] = compliance.review(request)
            self.results["clinical"] = clinical.review(request, self.extractor,
                                                       self.results["procedures"]["validation"])
        elif phase == "phase_2":
            self.results["coverage"] = coverage.review(request, self.results["clinical"], self.provider)
        elif phase == "phase_3":
            self.results["synthesis"] = synthesis.decide(request, self.results["compliance"],
                                                         self.results["clinical"], self.results["coverage"])

    def mark(self, phase: str, status: str) -> dict:
        """The progress event of a phase boundary, with every agent's status at that moment."""
        _, running_pct, done_pct, message, agents = next(p for p in PHASES if p[0] == phase)
        for agent, detail in agents.items():
            self.statuses[agent] = ({"status": "running", "detail": detail} if status == "running"
                                    else {"status": "done", "detail": "Completed"})
        pct = running_pct if status == "running" else done_pct
        return {"phase": phase, "status": status, "progress_pct": pct, "message": message,
                "agents": {agent: dict(state) for agent, state in self.statuses.items()}}

    def fail(self, phase: str) -> None:
        for agent in next(p for p in PHASES if p[0] == phase)[4]:
            self.statuses[agent] = {"status": "error", "detail": "Failed"}

    def response(self, completed: datetime) -> dict:
        s = self.results["synthesis"]
        coverage_result = self.results["coverage"]
        extraction = self.results["clinical"]["clinical_extraction"]
        return {
            "request_id": self.request_id,
            "recommendation": s["recommendation"],
            "confidence": s["confidence"],
            "confidence_level": s["confidence_level"],
            "summary": s["summary"],
            "tool_results": self.results["clinical"]["tool_results"],
            "clinical_rationale": s["clinical_rationale"],
            "coverage_criteria_met": s["coverage_criteria_met"],
            "coverage_criteria_not_met": s["coverage_criteria_not_met"],
            "missing_documentation": s["missing_documentation"],
            "documentation_gaps": s["documentation_gaps"],
            "policy_references": s["policy_references"],
            "disclaimer": s["disclaimer"],
            "decision_gates": s["decision_gates"],
            "confidence_breakdown": s["confidence_breakdown"],
            "agent_results": {"compliance": self.results["compliance"], "clinical": self.results["clinical"],
                              "coverage": coverage_result},
            "audit_trail": {
                "data_sources": DATA_SOURCES,
                "review_started": iso(self.started),
                "review_completed": iso(completed),
                "extraction_confidence": extraction.get("extraction_confidence", 0),
                "assessment_confidence": s["assessment_confidence"],
                "criteria_met_count": s["criteria_met_count"],
            },
            "request": self.request,
            "reviewed_at": iso(completed),
        }


def run(request_id: str, request: dict, provider: dict, extractor, started: datetime, completed_at) -> dict:
    """Every phase, then the response; `completed_at` is a clock (called once at the end)."""
    review = Review(request_id, request, provider, extractor, started)
    for phase, *_ in PHASES:
        review.run_phase(phase)
    return review.response(completed_at())
