"""Coverage-policy library: policies as YAML data files with public citations, and a pure criteria evaluator.

    concepts()                      every concept the library's criteria use (build the extractor with these)
    load_library()                  the coverage policies (cached)
    match(request)                  the best PolicyMatch (policy + policy_match score), or None
    evaluate(policy, request, extraction)   criteria assessment, diagnosis alignment, documentation gaps
    literature(policy), trials(policy)      offline citations kept in the policy files
    general_policy()                path B: general medical necessity when no policy names the code

The criterion language is described in README.md next to this file.
"""
from .evaluate import age_in_years, diagnosis_alignment, evaluate, match, policy_match, select_indication
from .library import (
    PolicyLibraryError,
    concepts,
    general_policy,
    get_policy,
    literature,
    load_concepts,
    load_folder,
    load_library,
    load_policy_file,
    merge_concepts,
    parse_policy,
    shared_concepts,
    trials,
)
from .model import (
    BASE_CONCEPT_IDS,
    CATEGORIES,
    MEASUREMENT_NAMES,
    Concept,
    Criterion,
    Gap,
    Indication,
    Policy,
    PolicyMatch,
)
from .rules import INSUFFICIENT, MET, NOT_MET, Facts, Outcome, RuleError, assess, check_rule, code_matches

__all__ = [
    "BASE_CONCEPT_IDS", "CATEGORIES", "INSUFFICIENT", "MEASUREMENT_NAMES", "MET", "NOT_MET",
    "Concept", "Criterion", "Facts", "Gap", "Indication", "Outcome", "Policy", "PolicyLibraryError", "PolicyMatch",
    "RuleError", "age_in_years", "assess", "check_rule", "code_matches", "concepts", "diagnosis_alignment",
    "evaluate", "general_policy", "get_policy", "literature", "load_concepts", "load_folder", "load_library",
    "load_policy_file", "match", "merge_concepts", "parse_policy", "policy_match", "select_indication",
    "shared_concepts", "trials",
]
