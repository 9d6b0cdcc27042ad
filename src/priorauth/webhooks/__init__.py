"""Webhooks: outgoing event notifications to subscriber URLs.

This package's public surface for receivers is `verify`; the engine signs with `sign`.
"""
from priorauth.webhooks.signing import WebhookVerificationError, new_secret, sign, verify
from priorauth.webhooks.urls import UnsafeWebhookUrl, check_url, resolve_and_check

__all__ = [
    "UnsafeWebhookUrl",
    "WebhookVerificationError",
    "check_url",
    "new_secret",
    "resolve_and_check",
    "sign",
    "verify",
]
