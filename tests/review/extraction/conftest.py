import pytest

from priorauth.review.extraction import ClinicalExtractor, base_concepts

from .helpers import POLICY_CONCEPTS


@pytest.fixture(scope="module")
def extractor() -> ClinicalExtractor:
    """The real medspaCy pipeline, built once per test module (~1 s)."""
    return ClinicalExtractor(base_concepts() + POLICY_CONCEPTS)
