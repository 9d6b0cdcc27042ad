"""Every table, imported in one place so metadata (and Alembic) see them all."""
from priorauth.auth.models import ApiClient, Organization
from priorauth.authorizations.models import Action, Artifact, Attachment, Authorization, AuthorizationEvent
from priorauth.db import Base
from priorauth.files.models import StoredFile
from priorauth.outbox.models import OutboxMessage
from priorauth.submissions.models import SubmissionAttempt

__all__ = ["Action", "ApiClient", "Artifact", "Attachment", "Authorization", "AuthorizationEvent", "Base",
           "Organization", "OutboxMessage", "StoredFile", "SubmissionAttempt"]
