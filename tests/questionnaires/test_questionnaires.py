"""Questionnaire library (resolve) and the pure answer evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire

from priorauth.questionnaires import (
    QuestionnaireLibraryError,
    ResolvedQuestionnaire,
    evaluate,
    resolve,
)
from priorauth.questionnaires import library as lib
from priorauth.questionnaires.evaluate import iter_items

LIBRARY_DIR = Path(lib.__file__).parent / "library"
ENTRIES = lib.library_entries()


# --- helpers -------------------------------------------------------------------------------


def q(link: str, type_: str = "boolean", **extra: Any) -> dict[str, Any]:
    return {"linkId": link, "text": link, "type": type_, **extra}


def when(question: str, op: str, **answer: Any) -> dict[str, Any]:
    return {"question": question, "operator": op, **answer}


def questionnaire(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "status": "active", "item": list(items)}


def states(result: Any) -> dict[str, str]:
    return {s["linkId"]: s["state"] for s in result.question_states}


def problems(result: Any) -> dict[str, str]:
    return {p["linkId"]: p["message"] for p in result.answer_problems}


def entry_file(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "x",
        "title": "X",
        "version": "2026-01",
        "services": [{"codeSystem": "cpt", "code": "12345"}],
        "payers": ["*"],
        "source": {"citation": "c", "url": "https://example.org"},
        "supportingDocumentationGuidance": [],
        "requirementGroups": [{"id": "g", "title": "G", "linkIds": ["a"]}],
        "questionnaire": {
            "resourceType": "Questionnaire",
            "status": "active",
            "url": "https://example.org/q/x",
            "item": [q("a", required=True)],
        },
    }
    base.update(overrides)
    return base


def write_folder(tmp_path: Path, files: dict[str, dict[str, Any] | str]) -> Path:
    for name, content in files.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


# --- library files -------------------------------------------------------------------------


def test_library_has_required_services() -> None:
    codes = {(s["codeSystem"], s["code"]) for e in ENTRIES for s in e["services"]}
    for expected in [
        ("hcpcs", "J0135"),
        ("cpt", "27447"),
        ("cpt", "72148"),
        ("hcpcs", "E0601"),
    ]:
        assert expected in codes
    ndcs = {c for system, c in codes if system == "ndc"}
    assert {"00074-4339-02", "00074-0554-02"} <= ndcs  # Humira pens
    assert {"00169-4130-13", "00169-4524-14"} <= ndcs  # Ozempic 1 mg, Wegovy 2.4 mg
    assert all(len(n) == 13 and [len(p) for p in n.split("-")] == [5, 4, 2] for n in ndcs)
    assert any(e["id"] == "generic" and e["services"] == [] for e in ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e["id"])
def test_every_file_is_valid_fhir_and_well_formed(entry: dict[str, Any]) -> None:
    Questionnaire.model_validate(entry["questionnaire"])
    qn = entry["questionnaire"]
    assert qn["status"] == "active" and qn["url"]
    assert entry["version"] == "2026-01"
    assert entry["source"]["citation"] and entry["source"]["url"].startswith("https://")
    items = [i for i, _ in iter_items(qn["item"])]
    # Every file uses enableWhen, marks required items and groups them.
    assert any(i.get("enableWhen") for i in items)
    assert any(i.get("required") for i in items)
    assert entry["requirementGroups"] and entry["supportingDocumentationGuidance"]
    # With no answers, every required top-level question is reported missing.
    result = evaluate(qn, entry["requirementGroups"], {})
    assert result.missing_required
    groups = result.active_requirement_groups
    assert all(g["complete"] is False for g in groups if g["requiredCount"])


@pytest.mark.parametrize(
    ("entry", "service"),
    [(e, s) for e in ENTRIES for s in e["services"]],
    ids=lambda v: v.get("code") or v.get("id") if isinstance(v, dict) else str(v),
)
def test_every_service_code_resolves_to_its_file(
    entry: dict[str, Any], service: dict[str, str]
) -> None:
    got = resolve("any-payer", service["codeSystem"].upper(), f"  {service['code'].lower()} ")
    assert isinstance(got, ResolvedQuestionnaire)
    assert got.id == entry["id"]
    assert got.source_form["provenance"] == {
        "resolvedBy": "service_code",
        "payerId": "any-payer",
        "serviceCode": service["code"].upper(),
        "codeSystem": service["codeSystem"],
    }


@pytest.mark.parametrize("code", ["00074433902", "0074-4339-02", "00074-4339-02", " 00074 4339 02"])
def test_ndc_matches_on_digits_and_pads_10_digit_hyphenated_form(code: str) -> None:
    assert resolve(None, "ndc", code).id == "adalimumab"


def test_code_system_matters_and_fhir_uris_are_understood() -> None:
    assert resolve("p", "cpt", "J0135").id == "generic"  # J0135 is HCPCS, not CPT
    assert resolve("p", "http://www.ama-assn.org/go/cpt", "27447").id == "total-knee-arthroplasty"
    assert resolve("p", "http://hl7.org/fhir/sid/ndc", "00169452414").id == "semaglutide"
    assert resolve("p", None, "E0601").id == "cpap-e0601"  # no system: match any


@pytest.mark.parametrize(
    "args",
    [("p", "cpt", "99213"), ("p", "ndc", "12345678901"), (None, None, None), ("p", "cpt", "")],
)
def test_unknown_service_gets_generic(args: tuple[Any, ...]) -> None:
    got = resolve(*args)
    assert got.id == "generic"
    assert got.source_form["provenance"]["resolvedBy"] == "generic"
    assert got.source_form["provenance"]["payerId"] == args[0]
    assert {i["linkId"] for i, _ in iter_items(got.questionnaire["item"])} >= {
        "clinical-rationale",
        "prior-treatments",
        "documents-attached",
    }


def test_source_form_is_reduced_metadata() -> None:
    got = resolve("payer_sandbox", "hcpcs", "E0601")
    form = got.source_form
    assert set(form) == {"id", "title", "version", "publisher", "url", "citation", "provenance"}
    assert form["url"] == got.questionnaire["url"]
    assert "240.4" in form["citation"] and "ncdid=226" in got.source["url"]
    assert form["publisher"] == got.questionnaire["publisher"]


def test_resolve_returns_deep_copies() -> None:
    first = resolve("p", "hcpcs", "J0135")
    first.questionnaire["item"][0]["item"][0]["text"] = "tampered"
    first.questionnaire["item"].clear()
    first.requirement_groups[0]["linkIds"].append("x")
    first.supporting_documentation_guidance.clear()
    first.source["url"] = "tampered"
    again = resolve("p", "hcpcs", "J0135")
    assert again.questionnaire["item"][0]["item"][0]["text"] != "tampered"
    assert "x" not in again.requirement_groups[0]["linkIds"]
    assert again.supporting_documentation_guidance and again.source["url"] != "tampered"
    assert again.questionnaire is not first.questionnaire


def test_library_is_loaded_once() -> None:
    resolve("p", "cpt", "27447")
    before = lib._load_library.cache_info().misses
    for _ in range(5):
        resolve("p", "cpt", "72148")
    assert lib._load_library.cache_info().misses == before


def test_payer_specific_file_wins_over_wildcard(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generic = entry_file(id="generic", services=[])
    specific = entry_file(id="acme-x", payers=["ACME"])
    wildcard = entry_file(id="any-x")
    folder = write_folder(
        tmp_path, {"generic.json": generic, "a.json": wildcard, "b.json": specific}
    )
    monkeypatch.setattr(lib, "_load_library", lambda: lib.load_folder(folder))
    assert resolve(" acme ", "cpt", "12345").id == "acme-x"
    assert resolve("other", "cpt", "12345").id == "any-x"
    assert resolve(None, "cpt", "12345").id == "any-x"
    assert resolve("acme", "cpt", "99999").id == "generic"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "invalid JSON"),
        (entry_file(source={"citation": "c"}), "source"),
        (
            entry_file(
                questionnaire={
                    "resourceType": "Questionnaire",
                    "status": "active",
                    "url": "https://e/q",
                    "item": [q("a", enableWhen=[{"question": "a", "operator": "="}])],
                }
            ),
            "invalid FHIR Questionnaire",
        ),
        (
            entry_file(
                questionnaire={
                    "resourceType": "Questionnaire",
                    "status": "active",
                    "url": "https://e/q",
                    "item": [q("a", "nonsense")],
                }
            ),
            "unknown type",
        ),
        (entry_file(requirementGroups=[{"id": "g", "linkIds": ["nope"]}]), "unknown linkIds"),
        (entry_file(services=[{"codeSystem": "icd10", "code": "M17.11"}]), "bad service"),
    ],
)
def test_broken_file_raises_error_naming_the_file(
    tmp_path: Path, content: dict[str, Any] | str, fragment: str
) -> None:
    folder = write_folder(
        tmp_path, {"generic.json": entry_file(id="generic", services=[]), "broken.json": content}
    )
    with pytest.raises(QuestionnaireLibraryError) as err:
        lib.load_folder(folder)
    assert str(err.value).startswith("broken.json: ")
    assert fragment in str(err.value)


def test_two_files_claiming_the_same_code_are_rejected(tmp_path: Path) -> None:
    folder = write_folder(
        tmp_path,
        {
            "generic.json": entry_file(id="generic", services=[]),
            "a.json": entry_file(id="a"),
            "b.json": entry_file(id="b"),
        },
    )
    with pytest.raises(QuestionnaireLibraryError, match="b.json: .*already claimed by a.json"):
        lib.load_folder(folder)


# --- evaluator: enableWhen ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "op", "expected", "answer", "shown"),
    [
        ("boolean", "=", {"answerBoolean": True}, True, True),
        ("boolean", "=", {"answerBoolean": True}, False, False),
        ("boolean", "!=", {"answerBoolean": True}, False, True),
        ("integer", ">", {"answerInteger": 5}, 6, True),
        ("integer", ">", {"answerInteger": 5}, 5, False),
        ("integer", ">=", {"answerInteger": 5}, 5, True),
        ("integer", "<", {"answerInteger": 5}, 4, True),
        ("integer", "<=", {"answerInteger": 5}, 6, False),
        ("decimal", ">=", {"answerDecimal": 27.5}, 27.5, True),
        ("decimal", "<", {"answerDecimal": 30}, 29.9, True),
        ("decimal", "=", {"answerDecimal": 2}, 2.0, True),
        ("date", ">", {"answerDate": "2025-06-01"}, "2025-12-31", True),
        ("date", "<=", {"answerDate": "2025-06-01"}, "2025-06-02", False),
        ("string", "=", {"answerString": "abc"}, "abc", True),
        ("string", "!=", {"answerString": "abc"}, "abd", True),
        ("choice", "=", {"answerCoding": {"code": "b"}}, "b", True),
        ("choice", "=", {"answerCoding": {"code": "b"}}, "a", False),
        ("choice", "!=", {"answerCoding": {"code": "b"}}, "a", True),
        ("boolean", "exists", {"answerBoolean": True}, True, True),
        ("boolean", "exists", {"answerBoolean": True}, None, False),
        ("boolean", "exists", {"answerBoolean": False}, None, True),
        ("boolean", "exists", {"answerBoolean": False}, False, False),
    ],
)
def test_enable_when_operators(
    type_: str, op: str, expected: dict[str, Any], answer: Any, shown: bool
) -> None:
    source = q("src", type_)
    if type_ == "choice":
        source["answerOption"] = [{"valueCoding": {"code": c}} for c in "abc"]
    dep = q("dep", "string", required=True, enableWhen=[when("src", op, **expected)])
    qn = questionnaire(source, dep)
    result = evaluate(qn, [], {"src": answer})
    assert states(result)["dep"] == ("required" if shown else "hidden")
    assert ("dep" in result.missing_required) is shown


def test_enable_behavior_any_and_all() -> None:
    conds = [when("a", "=", answerBoolean=True), when("b", "=", answerBoolean=True)]
    qn = questionnaire(
        q("a"),
        q("b"),
        q("any", enableWhen=conds, enableBehavior="any"),
        q("all", enableWhen=conds, enableBehavior="all"),
    )
    assert states(evaluate(qn, [], {"a": True, "b": False})) == {
        "a": "optional",
        "b": "optional",
        "any": "optional",
        "all": "hidden",
    }
    assert states(evaluate(qn, [], {"a": True, "b": True}))["all"] == "optional"
    assert states(evaluate(qn, [], {"a": False, "b": False}))["any"] == "hidden"


def test_items_inside_disabled_groups_are_hidden_at_any_depth() -> None:
    qn = questionnaire(
        q("show"),
        {
            "linkId": "outer",
            "type": "group",
            "enableWhen": [when("show", "=", answerBoolean=True)],
            "item": [
                q("x", "string", required=True),
                {"linkId": "inner", "type": "group", "item": [q("deep", "integer", required=True)]},
            ],
        },
    )
    hidden = evaluate(qn, [], {"show": False})
    assert states(hidden) == {"show": "optional", "x": "hidden", "deep": "hidden"}
    assert hidden.missing_required == []
    shown = evaluate(qn, [], {"show": True})
    assert states(shown) == {"show": "optional", "x": "required", "deep": "required"}
    assert shown.missing_required == ["x", "deep"]
    # Groups themselves are not questions.
    assert {"outer", "inner"}.isdisjoint(states(shown))


def test_question_depending_on_a_hidden_question_is_hidden() -> None:
    qn = questionnaire(
        q("gate"),
        q("mid", "integer", enableWhen=[when("gate", "=", answerBoolean=True)]),
        q("leaf", "string", required=True, enableWhen=[when("mid", ">", answerInteger=1)]),
        q("leaf-absent", "string", enableWhen=[when("mid", "exists", answerBoolean=False)]),
        q("leaf-present", "string", enableWhen=[when("mid", "exists", answerBoolean=True)]),
        q("leaf-not", "string", enableWhen=[when("mid", "!=", answerInteger=1)]),
    )
    # mid is answered but hidden, so its answer is ignored and every follow-up stays hidden.
    result = evaluate(qn, [], {"gate": False, "mid": 5})
    assert states(result) == {
        "gate": "optional",
        "mid": "hidden",
        "leaf": "hidden",
        "leaf-absent": "hidden",
        "leaf-present": "hidden",
        "leaf-not": "hidden",
    }
    assert result.answer_problems == [] and result.missing_required == []
    assert states(evaluate(qn, [], {"gate": True, "mid": 5}))["leaf"] == "required"


def test_enable_when_may_refer_to_a_later_question() -> None:
    qn = questionnaire(q("dep", enableWhen=[when("src", "=", answerBoolean=True)]), q("src"))
    assert states(evaluate(qn, [], {"src": True}))["dep"] == "optional"


def test_enable_when_on_repeating_choice() -> None:
    options = [{"valueCoding": {"code": c}} for c in ("a", "b", "c")]
    qn = questionnaire(
        q("multi", "choice", repeats=True, answerOption=options),
        q("has-b", enableWhen=[when("multi", "=", answerCoding={"code": "b"})]),
        q("not-b", enableWhen=[when("multi", "!=", answerCoding={"code": "b"})]),
    )
    assert states(evaluate(qn, [], {"multi": ["a", "b"]})) == {
        "multi": "optional",
        "has-b": "optional",
        "not-b": "hidden",
    }
    assert states(evaluate(qn, [], {"multi": ["a", "c"]}))["not-b"] == "optional"
    # An empty list is no answer at all.
    assert states(evaluate(qn, [], {"multi": []}))["not-b"] == "hidden"


def test_invalid_answer_does_not_enable_follow_ups() -> None:
    qn = questionnaire(q("n", "integer"), q("dep", enableWhen=[when("n", ">", answerInteger=1)]))
    result = evaluate(qn, [], {"n": "7"})
    assert states(result)["dep"] == "hidden"
    assert problems(result) == {"n": "expects a whole-number answer"}


# --- evaluator: answers ------------------------------------------------------------------------


TYPED = questionnaire(
    q("b", "boolean"),
    q("i", "integer"),
    q("d", "decimal"),
    q("dt", "date"),
    q("s", "string"),
    q("t", "text"),
    q("c", "choice", answerOption=[{"valueCoding": {"code": "x"}}, {"valueCoding": {"code": "y"}}]),
    q("r", "choice", repeats=True, answerOption=[{"valueCoding": {"code": "x"}}]),
    {"linkId": "g", "type": "group", "item": [q("inner", "string")]},
)


@pytest.mark.parametrize(
    ("link", "value", "ok"),
    [
        ("b", True, True),
        ("b", "true", False),
        ("b", 1, False),
        ("i", 3, True),
        ("i", 3.5, False),
        ("i", True, False),
        ("d", 3.5, True),
        ("d", 3, True),
        ("d", "3.5", False),
        ("d", False, False),
        ("d", float("nan"), False),
        ("dt", "2025-02-28", True),
        ("dt", "2025-02-30", False),
        ("dt", "20250228", False),
        ("dt", "2025-02-28T10:00:00", False),
        ("s", "hello", True),
        ("s", "   ", False),
        ("s", 5, False),
        ("t", "", False),
        ("c", "x", True),
        ("c", "z", False),
        ("c", 1, False),
        ("r", ["x"], True),
        ("r", ["x", "q"], False),
        ("c", ["x"], False),  # not a repeating item
        ("g", "anything", False),  # groups take no answer
    ],
)
def test_answer_type_checks(link: str, value: Any, ok: bool) -> None:
    result = evaluate(TYPED, [], {link: value})
    assert (link not in problems(result)) is ok
    answered = {s["linkId"]: s["answered"] for s in result.question_states}
    if link in answered:
        assert answered[link] is ok  # a bad answer never counts as answered


def test_problem_messages() -> None:
    result = evaluate(TYPED, [], {"nope": 1, "c": "z", "b": "yes", "s": None})
    assert problems(result) == {
        "nope": "no question with linkId 'nope' in this questionnaire",
        "c": "'z' is not one of the allowed answers: x, y",
        "b": "expects a true/false answer",
    }


def test_none_is_unanswered_and_answers_to_hidden_questions_are_ignored() -> None:
    qn = questionnaire(
        q("gate"),
        q("req", "integer", required=True),
        q("follow", "integer", required=True, enableWhen=[when("gate", "=", answerBoolean=True)]),
    )
    result = evaluate(qn, [], {"gate": False, "req": None, "follow": "not a number"})
    assert result.missing_required == ["req"]
    assert result.answer_problems == []
    state = next(s for s in result.question_states if s["linkId"] == "follow")
    assert state == {
        "linkId": "follow",
        "text": "follow",
        "type": "integer",
        "state": "hidden",
        "answered": False,
    }
    assert not result.complete
    assert evaluate(qn, [], {"gate": False, "req": 1}).complete


# --- evaluator: requirement groups ---------------------------------------------------------------


def test_requirement_group_completeness_and_activity() -> None:
    qn = questionnaire(
        q("a", required=True),
        q("b", "string", required=True),
        q("opt", "string"),
        {
            "linkId": "sect",
            "type": "group",
            "enableWhen": [when("a", "=", answerBoolean=True)],
            "item": [q("c", "integer", required=True), q("d", "integer")],
        },
    )
    groups = [
        {"id": "first", "title": "First", "linkIds": ["a", "b", "opt"]},
        {"id": "section", "title": "Section", "linkIds": ["sect"]},  # a group stands for its items
        {"id": "optional-only", "title": "Optional", "linkIds": ["opt"]},
    ]
    result = evaluate(qn, groups, {"a": False, "b": "x"})
    assert result.active_requirement_groups == [
        {
            "id": "first",
            "title": "First",
            "requiredCount": 2,
            "answeredRequiredCount": 2,
            "complete": True,
        },
        {
            "id": "optional-only",
            "title": "Optional",
            "requiredCount": 0,
            "answeredRequiredCount": 0,
            "complete": True,
        },
    ]
    result = evaluate(qn, groups, {"a": True, "b": "x", "d": 2})
    section = result.active_requirement_groups[1]
    assert section == {
        "id": "section",
        "title": "Section",
        "requiredCount": 1,
        "answeredRequiredCount": 0,
        "complete": False,
    }
    assert evaluate(qn, groups, {"a": True, "b": "x", "c": 1}).active_requirement_groups[1][
        "complete"
    ]


# --- library questionnaires behave as their criteria say -----------------------------------------


def _eval(code_system: str, code: str, answers: dict[str, Any]) -> Any:
    r = resolve("p", code_system, code)
    return evaluate(r.questionnaire, r.requirement_groups, answers)


def test_adalimumab_crohns_questions_only_for_crohns() -> None:
    crohns = states(_eval("hcpcs", "J0135", {"indication": "crohns"}))
    uc = states(_eval("hcpcs", "J0135", {"indication": "uc"}))
    ra = states(_eval("hcpcs", "J0135", {"indication": "ra"}))
    assert crohns["crohns-fistulizing"] == "required" and crohns["ibd-severity"] == "required"
    assert uc["crohns-fistulizing"] == "hidden" and uc["ibd-severity"] == "required"
    assert ra["ibd-severity"] == "hidden" and ra["ra-disease-activity"] == "required"
    tb = states(_eval("hcpcs", "J0135", {"tb-test-done": True, "tb-test-result": "positive"}))
    assert tb["tb-treatment-started"] == "required"
    assert states(_eval("hcpcs", "J0135", {"tb-test-done": False, "tb-test-result": "positive"}))[
        "tb-treatment-started"
    ] == "hidden"


def test_semaglutide_bmi_thresholds() -> None:
    base = {"indication": "weight-management"}
    wegovy = "00169452414"
    overweight = states(_eval("ndc", wegovy, {**base, "bmi": 28.4}))
    assert overweight["weight-comorbidities"] == "required"
    obese = states(_eval("ndc", wegovy, {**base, "bmi": 31}))
    assert obese["weight-comorbidities"] == "hidden"
    assert obese["bmi-below-threshold-reason"] == "hidden"
    low = states(_eval("ndc", wegovy, {**base, "bmi": 25}))
    assert low["bmi-below-threshold-reason"] == "required"
    t2dm = states(_eval("ndc", "00169413013", {"indication": "t2dm"}))
    assert t2dm["hba1c"] == "required" and t2dm["bmi"] == "hidden"


def test_cpap_symptom_questions_only_for_ahi_5_to_14() -> None:
    mild = _eval("hcpcs", "E0601", {"ahi-band": "5-14"})
    assert states(mild)["mild-osa-conditions"] == "required"
    assert "mild-osa" in {g["id"] for g in mild.active_requirement_groups}
    severe = _eval("hcpcs", "E0601", {"ahi-band": "15+"})
    assert states(severe)["mild-osa-conditions"] == "hidden"
    assert "mild-osa" not in {g["id"] for g in severe.active_requirement_groups}


def test_knee_and_mri_thresholds() -> None:
    short = states(_eval("cpt", "27447", {"conservative-weeks": 8}))
    assert short["conservative-exception"] == "required"
    enough = states(_eval("cpt", "27447", {"conservative-weeks": 12}))
    assert enough["conservative-exception"] == "hidden"
    kl2 = states(_eval("cpt", "27447", {"xray-done": True, "kl-grade": 2}))
    assert kl2["advanced-disease-evidence"] == "required"
    red = states(_eval("cpt", "72148", {"red-flags-present": True}))
    assert red["red-flags"] == "required" and red["conservative-weeks"] == "hidden"
    plain = states(_eval("cpt", "72148", {"red-flags-present": False, "conservative-weeks": 4}))
    assert plain["conservative-exception"] == "required" and plain["red-flags"] == "hidden"


def test_library_dir_is_packaged_next_to_the_module() -> None:
    names = sorted(p.name for p in LIBRARY_DIR.glob("*.json"))
    assert len(names) == len(ENTRIES) >= 6 and "generic.json" in names
