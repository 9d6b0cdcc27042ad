"""Every table, imported in one place so metadata (and Alembic) see them all."""
from priorauth.auth.models import ApiClient, Organization
from priorauth.authorizations.models import Action, Artifact, Attachment, Authorization, AuthorizationEvent
from priorauth.codes.models import NpiRecord
from priorauth.db import Base
from priorauth.events.models import OrganizationEvent
from priorauth.files.models import StoredFile
from priorauth.outbox.models import OutboxMessage
from priorauth.review.models import AuthorizationNumberCounter, Review, ReviewDecision
from priorauth.submissions.models import SubmissionAttempt
from priorauth.webhooks.models import WebhookDelivery, WebhookEndpoint
from priorauth.workflows.models import (
    Workflow,
    WorkflowApproval,
    WorkflowAuditEntry,
    WorkflowPolicy,
    WorkflowPolicyVersion,
    WorkflowStep,
)

__all__ = ["Action", "ApiClient", "Artifact", "Attachment", "Authorization", "AuthorizationEvent", "Base",
           "AuthorizationNumberCounter", "NpiRecord", "Organization", "OrganizationEvent", "OutboxMessage", "Review", "ReviewDecision",
           "StoredFile", "SubmissionAttempt", "WebhookDelivery", "WebhookEndpoint", "Workflow", "WorkflowApproval", "WorkflowAuditEntry", "WorkflowPolicy",
           "WorkflowPolicyVersion", "WorkflowStep"]
