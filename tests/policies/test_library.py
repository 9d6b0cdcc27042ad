"""The packaged library loads, every policy is well formed, and malformed files fail with their name."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from priorauth import policies
from priorauth.codes import icd10_status
from priorauth.policies import BASE_CONCEPT_IDS, MEASUREMENT_NAMES, PolicyLibraryError, check_rule, parse_policy

LIBRARY = Path(policies.__file__).parent / "library"
EXPECTED_CODES = {  # the issue's list: at least these codes must match a policy
    "27447": "tka-27447", "72148": "mri-lumbar-72148", "E0601": "cpap-e0601", "E1390": "home-oxygen-e1390",
    "43644": "bariatric-surgery", "43775": "bariatric-surgery", "J0135": "adalimumab-j0135",
    "J9039": "blinatumomab-j9039", "J7321": "knee-hyaluronan", "J7332": "knee-hyaluronan", "31628": "bronchoscopy-31628",
}


def test_every_policy_file_loads():
    files = sorted(p.name for p in LIBRARY.glob("*.yaml"))
    loaded = policies.load_library()
    assert sorted(p.file for p in loaded) == files
    assert len(loaded) >= 13
    assert policies.load_library() == loaded  # cached: same objects


def test_issue_codes_are_covered():
    by_code = {code: p.id for p in policies.load_library() for code in p.codes}
    for code, policy_id in EXPECTED_CODES.items():
        assert by_code.get(code) == policy_id, code
    assert "J7330" not in by_code  # autologous chondrocytes, not a hyaluronan


@pytest.mark.parametrize("policy", policies.load_library(), ids=lambda p: p.id)
def test_policy_is_complete(policy):
    assert policy.citation and policy.url.startswith("https://")
    assert policy.covered_diagnoses, "a policy needs covered diagnoses for alignment"
    assert 2 <= len(policy.literature) <= 4
    for item in policy.literature:
        assert item["title"] and item["source"] and isinstance(item["year"], int)
        assert item.get("url") or item.get("pmid")
    for trial in policy.trials:
        assert re.fullmatch(r"NCT[0-9]{8}", trial["nct_id"])
    for criterion in policy.all_criteria():
        assert criterion.gap.request.startswith("Please"), criterion.id
    for indication in policy.indications:
        assert indication.criteria, indication.id


@pytest.mark.parametrize("policy", policies.load_library(), ids=lambda p: p.id)
def test_covered_diagnosis_prefixes_exist_in_icd10cm(policy):
    for prefix in policy.covered_diagnoses:
        assert icd10_status(prefix).valid, f"{policy.id}: {prefix} is not an ICD-10-CM category or code"


def test_every_referenced_concept_is_declared():
    declared = {c.id for c in policies.concepts()} | BASE_CONCEPT_IDS
    for policy in [*policies.load_library(), policies.general_policy()]:
        rules = [c.rule for c in policy.all_criteria()] + [i.when for i in policy.indications if i.when]
        for rule in rules:
            assert check_rule(rule) <= declared, policy.id


def test_every_measurement_name_is_in_the_extractor_set():
    def names(rule):
        (kind, args), = rule.items()
        if kind in ("any_of", "all_of"):
            return set().union(*(names(r) for r in args))
        if kind == "measurement":
            return set(args.get("names") or ([args["name"]] if args.get("name") else []))
        return set()

    for policy in policies.load_library():
        for criterion in policy.all_criteria():
            assert names(criterion.rule) <= MEASUREMENT_NAMES


def test_concepts_are_unique_and_well_formed():
    concepts = policies.concepts()
    ids = [c.id for c in concepts]
    assert len(ids) == len(set(ids))
    for c in concepts:
        assert c.category in policies.CATEGORIES and c.patterns
        assert len({p.casefold() for p in c.patterns}) == len(c.patterns), c.id
    assert not BASE_CONCEPT_IDS & set(ids), "base treatment ids are referenced, never redefined"


def test_library_concepts_keep_the_extractor_base_patterns():
    """The engine lets a policy concept replace a base concept with the same id: nothing may be lost."""
    extraction = pytest.importorskip("priorauth.review.extraction.concepts")
    base = {c.id: c for c in extraction.base_concepts()}
    for concept in policies.concepts():
        if concept.id in base:
            assert concept.category == base[concept.id].category, concept.id
            mine = {p.casefold() for p in concept.patterns}
            missing = [p for p in base[concept.id].patterns if p.casefold() not in mine]
            assert not missing, f"{concept.id} would drop base patterns {missing}"


def test_general_policy_is_path_b():
    general = policies.general_policy()
    assert general.general and not general.codes
    assert [c.id for c in general.criteria] == ["documented_diagnosis", "documented_symptoms", "treatment_or_severity"]


def test_literature_and_trials_are_copies():
    policy = policies.get_policy("cpap-e0601")
    items = policies.literature(policy)
    items[0]["title"] = "changed"
    assert policies.literature(policy)[0]["title"] != "changed"
    assert policies.trials(policies.get_policy("dupilumab"))[0]["url"].startswith("https://clinicaltrials.gov/")


# ---------------------------------------------------------------- malformed files

def _minimal() -> dict:
    return {"id": "demo", "title": "Demo", "citation": "LCD L00000", "url": "https://example.org/demo",
            "codes": ["99999"], "diagnoses": {"M17": "Knee OA"},
            "criteria": [{"id": "xray", "criterion": "X-ray", "rule": {"mention": {"concepts": ["osteophytes"]}},
                          "gap": {"what": "X-ray", "request": "Please provide the X-ray."}}]}


def test_minimal_policy_parses():
    policy = parse_policy("demo.yaml", _minimal(), tuple(policies.shared_concepts()))
    assert policy.id == "demo" and policy.criteria[0].required and policy.criteria[0].gap.critical


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("citation"), "'citation'"),
    (lambda d: d.update(url="http://insecure"), "https://"),
    (lambda d: d.update(codes=["2744"]), "CPT or HCPCS"),
    (lambda d: d.update(diagnoses={"knee": "x"}), "ICD-10-CM prefixes"),
    (lambda d: d.update(unlisted_codes=["J3490"]), "drug_names"),
    (lambda d: d["criteria"][0].update(rule={"mention": {"concepts": ["no_such_concept"]}}), "undeclared concepts"),
    (lambda d: d["criteria"][0].update(rule={"measurement": {"name": "weight", "op": ">=", "value": 1}}),
     "unknown measurement"),
    (lambda d: d["criteria"][0].update(rule={"mention": {}, "absent": {}}), "exactly one key"),
    (lambda d: d["criteria"][0].update(rule={"sometimes": {}}), "unknown rule"),
    (lambda d: d["criteria"][0].update(rule={"measurement": {"name": "bmi", "op": "~", "value": 3}}), "'op'"),
    (lambda d: d["criteria"][0].pop("gap"), "'gap'"),
    (lambda d: d["criteria"].append(dict(d["criteria"][0])), "unique"),
    (lambda d: d.update(colour="blue"), "unknown keys"),
    (lambda d: d.update(concepts=[{"id": "nsaids", "category": "finding", "patterns": ["x"]}]), "base concept"),
    (lambda d: d.update(literature=[{"title": "t", "source": "s", "year": 2020}]), "'url' or a 'pmid'"),
    (lambda d: d.update(trials=[{"nct_id": "NCT123", "title": "t"}]), "nct_id"),
])
def test_malformed_policy_names_the_file(change, message):
    data = _minimal()
    change(data)
    with pytest.raises(PolicyLibraryError) as err:
        parse_policy("broken.yaml", data, tuple(policies.shared_concepts()))
    assert str(err.value).startswith("broken.yaml: ")
    assert message in str(err.value)


def test_folder_with_bad_yaml_names_the_file(tmp_path):
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(_minimal()))
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    with pytest.raises(PolicyLibraryError, match=r"^bad\.yaml: invalid YAML"):
        policies.load_folder(tmp_path, tuple(policies.shared_concepts()))


def test_folder_rejects_duplicate_codes(tmp_path):
    first, second = _minimal(), _minimal()
    second["id"] = "other"
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(first))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(second))
    with pytest.raises(PolicyLibraryError, match=r"^b\.yaml: code 99999 is already claimed by a\.yaml"):
        policies.load_folder(tmp_path, tuple(policies.shared_concepts()))


def test_concept_category_conflict_names_the_file(tmp_path):
    data = _minimal()
    data["concepts"] = [{"id": "knee_osteoarthritis", "category": "finding", "patterns": ["knee OA"]}]
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(PolicyLibraryError, match=r"^a\.yaml: concept 'knee_osteoarthritis'"):
        policies.load_folder(tmp_path, tuple(policies.shared_concepts()))
