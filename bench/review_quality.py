#!/usr/bin/env python3
"""How well the review decides: accuracy, unsafe and missed approvals, precision of approvals per confidence
level, and per-criterion precision / recall of MET, on the blind corpus (tests/cases/corpus) or any folder.

    python bench/review_quality.py                      # the dev and the frozen test split
    python bench/review_quality.py tests/cases          # any folder of case files
    python bench/review_quality.py --split dev --cases  # and each dev case that went wrong

Cases are the YAML files of tests/cases (README there): `request` (what POST /api/review takes) and
`expect` (recommendation; for a case written with criterion truth also policy, indication and criteria).
The pipeline runs in-process exactly as the server runs it, with a fixed review time. An unsafe approval
is an `approve` where a human would pend: the one error the review must never make. Per-case detail is
printed for the dev split only: looking at a test case spends it (it moves to dev and is replaced).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "cases" / "corpus"
REVIEWED_AT = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)  # the corpus's "today"


def load(folder: Path) -> list[dict]:
    cases = [yaml.safe_load(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.yaml"))]
    for case in cases:  # YAML reads an unquoted 96372 or 1234567893 as a number; the wire sends strings
        request = case["request"]
        for key in ("diagnosis_codes", "procedure_codes"):
            request[key] = [str(code) for code in request.get(key) or []]
        for key in ("provider_npi", "patient_dob", "insurance_id"):
            request[key] = str(request[key])
    return cases


def review(cases: list[dict]) -> list[tuple[dict, dict]]:
    from priorauth.codes.nppes import check_digit_status
    from priorauth.review import pipeline
    from priorauth.review.engine import extractor
    from priorauth.review.schemas import PriorAuthRequest

    nlp = extractor()
    results = []
    for case in cases:
        request = PriorAuthRequest(**case["request"]).model_dump()
        response = pipeline.run("quality-" + case["name"], request, check_digit_status(request["provider_npi"]), nlp,
                                REVIEWED_AT, lambda: REVIEWED_AT)
        results.append((case, response))
    return results


def score(results: list[tuple[dict, dict]]) -> dict:
    outcomes = Counter()
    by_level: dict[str, Counter] = defaultdict(Counter)
    criteria: dict[str, Counter] = defaultdict(Counter)
    wrong = []
    for case, response in results:
        expected, got = case["expect"]["recommendation"], response["recommendation"]
        outcomes["cases"] += 1
        outcomes["correct"] += expected == got
        outcomes["expected_approve"] += expected == "approve"
        outcomes["unsafe_approvals"] += got == "approve" and expected != "approve"
        outcomes["missed_approvals"] += expected == "approve" and got != "approve"
        if got == "approve":
            by_level[response["confidence_level"]]["approvals"] += 1
            by_level[response["confidence_level"]]["correct"] += expected == "approve"
        coverage = response["agent_results"]["coverage"]
        truth = case["expect"].get("criteria") or {}
        if "policy" in case["expect"]:
            outcomes["with_policy_truth"] += 1
            matched = (coverage.get("policy") or {}).get("id") if coverage.get("path") == "A" else None
            outcomes["policy_matched"] += matched == case["expect"]["policy"]
        assessed = {c["id"]: c["status"] for c in coverage.get("criteria_assessment") or []}
        for cid, status in truth.items():
            policy = case["expect"]["policy"]
            counts = criteria[f"{policy}.{cid}"]
            engine = assessed.get(cid)
            counts["tp"] += engine == "MET" and status == "MET"
            counts["fp"] += engine == "MET" and status != "MET"
            counts["fn"] += engine != "MET" and status == "MET"
        if expected != got:
            wrong.append({"name": case["name"], "expected": expected, "got": got,
                          "confidence": response["confidence_level"],
                          "criteria": {cid: (status, assessed.get(cid)) for cid, status in truth.items()
                                       if assessed.get(cid) != status}})
    return {"outcomes": dict(outcomes), "approvals_by_confidence": {k: dict(v) for k, v in by_level.items()},
            "criteria": {k: dict(v) for k, v in sorted(criteria.items())}, "wrong": wrong}


def _ratio(a: int, b: int) -> str:
    return f"{a / b:6.1%}" if b else "     -"


def report(title: str, figures: dict, show_cases: bool) -> None:
    o = figures["outcomes"]
    print(f"== {title}: {o.get('cases', 0)} cases, {o.get('expected_approve', 0)} expected to approve")
    print(f"   correct {o.get('correct', 0)} ({_ratio(o.get('correct', 0), o.get('cases', 0)).strip()}), "
          f"unsafe approvals {o.get('unsafe_approvals', 0)}, missed approvals {o.get('missed_approvals', 0)}"
          + (f", policy matched {o.get('policy_matched', 0)}/{o['with_policy_truth']}" if o.get("with_policy_truth")
             else ""))
    for level in ("HIGH", "MEDIUM", "LOW"):
        counts = figures["approvals_by_confidence"].get(level)
        if counts:
            print(f"   approvals at {level:<6} {counts['approvals']:4d}, precise {_ratio(counts['correct'], counts['approvals'])}")
    tp = sum(c["tp"] for c in figures["criteria"].values())
    fp = sum(c["fp"] for c in figures["criteria"].values())
    fn = sum(c["fn"] for c in figures["criteria"].values())
    if tp + fp + fn:
        print(f"   criteria MET: precision {_ratio(tp, tp + fp)}, recall {_ratio(tp, tp + fn)} (tp {tp}, fp {fp}, fn {fn})")
        for name, c in figures["criteria"].items():
            if c["fp"] or c["fn"]:
                print(f"     {name:<55} precision {_ratio(c['tp'], c['tp'] + c['fp'])}  recall "
                      f"{_ratio(c['tp'], c['tp'] + c['fn'])}  (tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
    if show_cases:
        for w in figures["wrong"]:
            print(f"   WRONG {w['name']}: expected {w['expected']}, got {w['got']} ({w['confidence']}) {w['criteria']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="folders of case files (default: the corpus splits)")
    parser.add_argument("--split", choices=("dev", "test"), help="only this split of the corpus")
    parser.add_argument("--cases", action="store_true", help="print each case that went wrong (never for test)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    folders = args.folders or [CORPUS / split for split in ((args.split,) if args.split else ("dev", "test"))]
    everything = {}
    for folder in folders:
        cases = load(folder)
        if not cases:
            print(f"no cases in {folder}", file=sys.stderr)
            continue
        figures = score(review(cases))
        everything[str(folder)] = figures
        if not args.json:
            report(str(folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder), figures,
                   args.cases and folder.name != "test")
    if args.json:
        for name, figures in everything.items():
            if Path(name).name == "test":
                figures.pop("wrong")
        print(json.dumps(everything, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
