"""Payer questionnaires (FHIR R4), question states and requirement groups."""

from .evaluate import QuestionnaireEvaluation, evaluate
from .library import QuestionnaireLibraryError, ResolvedQuestionnaire, resolve

__all__ = [
    "QuestionnaireEvaluation",
    "QuestionnaireLibraryError",
    "ResolvedQuestionnaire",
    "evaluate",
    "resolve",
]
