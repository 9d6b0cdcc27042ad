"""The clinical extractor, built once per process (medspaCy and the policy lexicon take ~2 s to load)."""
from __future__ import annotations

import threading

from priorauth import policies

_lock = threading.Lock()
_extractor = None


def extractor():
    global _extractor
    if _extractor is None:
        with _lock:
            if _extractor is None:  # double-checked: the warm-up thread may be building it right now
                from priorauth.review.extraction import ClinicalExtractor, base_concepts

                # One concept per id: the generic lexicon's and the policies' patterns together.
                _extractor = ClinicalExtractor(policies.merge_concepts(base_concepts() + policies.concepts(),
                                                                       "extractor"))
    return _extractor
