"""Severity scores and measurements: name, value, unit, qualifier and span."""
import pytest

from priorauth.review.extraction import measurement_names

from .helpers import measurement

CONTRACT_NAMES = {
    "kl_grade", "ahi", "rdi", "odi", "bmi", "hba1c", "spo2", "pao2", "hematocrit", "fev1_percent", "easi", "iga",
    "bsa_percent", "eosinophils", "das28", "cdai", "seizures_per_month", "mrd_percent", "cpap_hours_per_night",
    "cpap_nights_percent", "pain_score", "age", "nodule_size_mm",
}


@pytest.mark.parametrize("note, name, value, unit, text", [
    ("BMI 41.2", "bmi", 41.2, "kg/m2", "BMI 41.2"),
    ("Her BMI of 38 kg/m2 today.", "bmi", 38.0, "kg/m2", "BMI of 38 kg/m2"),
    ("Kellgren-Lawrence grade 4 changes.", "kl_grade", 4.0, None, "Kellgren-Lawrence grade 4"),
    ("KL grade IV bilaterally.", "kl_grade", 4.0, None, "KL grade IV"),
    ("KL 3-4 medially.", "kl_grade", 3.0, None, "KL 3-4"),
    ("grade 3 (Kellgren-Lawrence)", "kl_grade", 3.0, None, "grade 3 (Kellgren-Lawrence)"),
    ("AHI 32 events/hour on PSG.", "ahi", 32.0, "events/hour", "AHI 32 events/hour"),
    ("AHI of 32.", "ahi", 32.0, "events/hour", "AHI of 32"),
    ("RDI 18.", "rdi", 18.0, "events/hour", "RDI 18"),
    ("ODI 12 events/hour.", "odi", 12.0, "events/hour", "ODI 12 events/hour"),
    ("HbA1c 8.4%.", "hba1c", 8.4, "%", "HbA1c 8.4%"),
    ("A1c of 7.9 last month.", "hba1c", 7.9, "%", "A1c of 7.9"),
    ("Hemoglobin A1c (03/2025): 9.1%", "hba1c", 9.1, "%", "Hemoglobin A1c (03/2025): 9.1%"),
    ("PaO2 52 mmHg on room air.", "pao2", 52.0, "mmHg", "PaO2 52 mmHg"),
    ("Hct 52%.", "hematocrit", 52.0, "%", "Hct 52%"),
    ("FEV1 1.2 L (38% of predicted).", "fev1_percent", 38.0, "% predicted", "FEV1 1.2 L (38% of predicted"),
    ("FEV1 45% predicted.", "fev1_percent", 45.0, "% predicted", "FEV1 45% predicted"),
    ("67-year-old man.", "age", 67.0, "years", "67-year-old"),
    ("54 y/o female.", "age", 54.0, "years", "54 y/o"),
    ("Knee pain 8/10 at worst.", "pain_score", 8.0, None, "pain 8/10"),
    ("Rates 7/10 knee pain.", "pain_score", 7.0, None, "7/10 knee pain"),
    ("DAS28 5.1 despite methotrexate.", "das28", 5.1, None, "DAS28 5.1"),
    ("CDAI 24.", "cdai", 24.0, None, "CDAI 24"),
    ("EASI 24 at baseline.", "easi", 24.0, None, "EASI 24"),
    ("IGA 3 (moderate).", "iga", 3.0, None, "IGA 3"),
    ("BSA 15% involved.", "bsa_percent", 15.0, "%", "BSA 15%"),
    ("Plaques cover 12% of BSA.", "bsa_percent", 12.0, "%", "12% of BSA"),
    ("Blood eosinophils 450 cells/uL.", "eosinophils", 450.0, "cells/uL", "Blood eosinophils 450 cells/uL"),
    ("Absolute eosinophil count 0.45 x10^9/L.", "eosinophils", 450.0, "cells/uL",
     "Absolute eosinophil count 0.45 x10^9/L"),
    ("MRD 0.5% by flow.", "mrd_percent", 0.5, "%", "MRD 0.5%"),
    ("3 seizures per week.", "seizures_per_month", 13.0, "per month", "3 seizures per week"),
    ("Seizure frequency of 4 per month.", "seizures_per_month", 4.0, "per month", "Seizure frequency of 4 per month"),
    ("nodule 2.1 cm in the RUL.", "nodule_size_mm", 21.0, "mm", "nodule 2.1 cm"),
    ("A 12 x 9 mm spiculated nodule.", "nodule_size_mm", 12.0, "mm", "12 x 9 mm spiculated nodule"),
])
def test_measurements(extractor, note, name, value, unit, text):
    found = measurement(extractor.extract(note), name)
    assert (found["value"], found["unit"], found["text"]) == (value, unit, text)
    assert note[found["start"]:found["end"]] == text


def test_cpap_adherence(extractor):
    note = "CPAP use 5.2 hours per night on 78% of nights."
    extraction = extractor.extract(note)
    assert measurement(extraction, "cpap_hours_per_night")["value"] == 5.2
    assert measurement(extraction, "cpap_nights_percent")["value"] == 78.0
    assert not extractor.extract("She sleeps 5 hours per night.")["severity_scores"]


@pytest.mark.parametrize("note, value, qualifier", [
    ("SpO2 86% on room air at rest.", 86.0, "rest"),
    ("Desaturation to 87% with exertion.", 87.0, "exercise"),
    ("Nocturnal SpO2 nadir 78%.", 78.0, "sleep"),
    ("Oxygen saturation of 88% while walking.", 88.0, "exercise"),
    ("SpO2 95%.", 95.0, None),
])
def test_spo2_qualifiers(extractor, note, value, qualifier):
    spo2 = measurement(extractor.extract(note), "spo2")
    assert (spo2["value"], spo2["unit"], spo2["qualifier"]) == (value, "%", qualifier)


def test_rest_and_exertion_in_one_sentence(extractor):
    extraction = extractor.extract("SpO2 on room air 86% at rest, desaturating to 82% with ambulation.")
    assert [(m["value"], m["qualifier"]) for m in extraction["severity_scores"]] == [(86.0, "rest"),
                                                                                    (82.0, "exercise")]


@pytest.mark.parametrize("note", [
    "IgA 250 mg/dL.",               # immunoglobulin A, not the IGA score
    "Eosinophils 4%.",              # a differential percentage, not a count
    "BMI 412",                      # not a BMI
    "since age 50 she had pain",    # an onset age, not the patient's age
    "Strength 4/5 in the quadriceps.",
])
def test_not_measurements(extractor, note):
    assert extractor.extract(note)["severity_scores"] == []


def test_only_contract_names():
    assert set(measurement_names()) == CONTRACT_NAMES
