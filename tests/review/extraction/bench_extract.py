"""Benchmark (not collected by pytest): load time and extract() latency with ~300 policy concepts.

    python tests/review/extraction/bench_extract.py
"""
from __future__ import annotations

import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from notes import TKA_NOTE  # noqa: E402

_WORDS = (
    "lumbar cervical thoracic sacral femoral tibial patellar acetabular glenohumeral carpal tarsal median ulnar "
    "radial sciatic pulmonary hepatic renal cardiac retinal cutaneous synovial articular meniscal ligamentous "
    "tendinous muscular neural vascular osseous chronic acute recurrent progressive refractory severe moderate "
    "bilateral unilateral proximal distal anterior posterior medial lateral degenerative inflammatory erosive"
).split()
_HEADS = (
    "arthropathy neuropathy stenosis effusion tear rupture instability fusion arthroplasty injection infusion "
    "therapy evaluation imaging biopsy resection ablation stimulation implant study titration trial screening"
).split()
_CATEGORIES = ("symptom", "condition", "treatment", "imaging_finding", "functional_limitation", "red_flag",
               "evaluation", "finding")


def synthetic_concepts(count: int = 300, seed: int = 7):
    from priorauth.review.extraction import Concept

    rng = random.Random(seed)
    concepts = [Concept("total_knee_arthroplasty", "treatment", ["total knee arthroplasty", "TKA"]),
                Concept("knee_osteoarthritis", "condition", ["knee osteoarthritis", "osteoarthritis of the knee"])]
    while len(concepts) < count:
        patterns = [f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_HEADS)}" for _ in range(rng.randint(2, 5))]
        concepts.append(Concept(f"synthetic_{len(concepts)}", rng.choice(_CATEGORIES), patterns))
    return concepts


def main() -> None:
    started = time.perf_counter()
    from priorauth.review.extraction import ClinicalExtractor, base_concepts

    imported = time.perf_counter()
    extractor = ClinicalExtractor(base_concepts() + synthetic_concepts())
    built = time.perf_counter()
    note = TKA_NOTE
    for _ in range(50):
        extractor.extract(note)
    samples = []
    for _ in range(1000):
        begin = time.perf_counter()
        extractor.extract(note)
        samples.append((time.perf_counter() - begin) * 1000)
    samples.sort()
    print(f"concepts: {len(extractor.concepts)}  note: {len(note)} chars")
    print(f"import: {imported - started:.2f} s  build: {built - imported:.2f} s")
    print(f"extract p50 {statistics.median(samples):.2f} ms  p99 {samples[int(len(samples) * 0.99) - 1]:.2f} ms  "
          f"max {samples[-1]:.2f} ms")
    big = (note + "\n") * (100_000 // (len(note) + 1))
    begin = time.perf_counter()
    extractor.extract(big)
    print(f"100 KB note: {(time.perf_counter() - begin) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
