"""Clinical text extraction for the review: medspaCy (TargetMatcher + ConText) with prior-authorization
rules, plus regular expressions for measurements, durations and the chief complaint.

    from priorauth.review.extraction import ClinicalExtractor, Concept, base_concepts
    extractor = ClinicalExtractor(base_concepts() + policy_concepts)   # once, at start (~3 s)
    extraction = extractor.extract(notes)                              # the contract's dict
"""
import warnings

# Importing medspaCy runs warnings.filterwarnings("ignore") for the whole process; keep the service's filters.
_filters = list(warnings.filters)
from .concepts import CATEGORIES, Concept, base_concepts, merge_concepts  # noqa: E402
from .extractor import ClinicalExtractor, extraction_confidence  # noqa: E402
from .measurements import iter_names as measurement_names  # noqa: E402

warnings.filters[:] = _filters
del _filters

__all__ = [
    "CATEGORIES", "ClinicalExtractor", "Concept", "base_concepts", "extraction_confidence", "measurement_names",
    "merge_concepts",
]
