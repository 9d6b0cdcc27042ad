"""Webhook signatures: the Standard Webhooks scheme (default) and the `akute` scheme.

Pure logic: callers pass the clock (`timestamp` to sign, `now` to verify) and the secrets.

Secrets have the Standard Webhooks form `whsec_<base64 of the key bytes>`. Both schemes use the
same HMAC key: the base64-decoded bytes after `whsec_` (never the secret string itself).
During rotation several secrets are active (newest first): `sign` emits one signature per secret
and `verify` accepts a match with any of them.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_source
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Literal

from standardwebhooks import Webhook

Scheme = Literal["standard", "akute"]
SCHEMES: tuple[str, ...] = ("standard", "akute")

SECRET_PREFIX = "whsec_"
SECRET_KEY_BYTES = 32
DEFAULT_TOLERANCE_SECONDS = 300

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
AKUTE_SIGNATURE_HEADER = "x-akute-signature"

# Bounds what we parse from untrusted headers: a unix time in seconds fits in 12 digits for ~30,000 years.
MAX_TIMESTAMP_DIGITS = 12


class WebhookVerificationError(Exception):
    """A delivery failed verification; `reason` says why (safe to log, carries no secret)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- secrets ---------------------------------------------------------------------------------

def new_secret() -> str:
    """A fresh secret: `whsec_` + base64 of 32 random bytes. Shown once to the subscriber."""
    return SECRET_PREFIX + base64.b64encode(random_source.token_bytes(SECRET_KEY_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret: the base64-decoded bytes after the prefix.

    Raises ValueError on a malformed secret: that is a configuration error, not a bad delivery.
    """
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ValueError("webhook secret must be a string starting with 'whsec_'")
    encoded = secret[len(SECRET_PREFIX):]
    # Accept unpadded base64, as the standardwebhooks library does.
    padded = encoded + "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(padded, validate=True)
    except binascii.Error:
        raise ValueError("webhook secret is not valid base64 after 'whsec_'") from None
    if not key:
        raise ValueError("webhook secret is empty")
    return key


def _as_secret_list(secret_or_secrets: str | Sequence[str]) -> list[str]:
    found = [secret_or_secrets] if isinstance(secret_or_secrets, str) else list(secret_or_secrets)
    if not found:
        raise ValueError("at least one webhook secret is required")
    return found


def _check_scheme(scheme: str) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown webhook signing scheme {scheme!r}; expected one of {SCHEMES}")


# --- signing ---------------------------------------------------------------------------------

def sign(
    scheme: Scheme,
    secrets: str | Sequence[str],
    message_id: str,
    timestamp: int,
    body: bytes,
) -> dict[str, str]:
    """The signature headers to send with `body`, one signature per active secret (newest first).

    standard: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<b64> v1,<b64>...`,
      HMAC-SHA256 over `{id}.{timestamp}.{body}` computed by `standardwebhooks.Webhook.sign`.
      The body must be UTF-8 (that library signs text).
    akute: `webhook-id` (for de-duplication, not signed) and
      `x-akute-signature: t=<unix>,v1=<hex>,v1=<hex>...`, HMAC-SHA256 over `{t}.{body}`.
    In both, the HMAC key is `secret_key(secret)`: the base64-decoded bytes after `whsec_`.
    """
    _check_scheme(scheme)
    _check_message_id(message_id)
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative integer of unix seconds")
    keys = [secret_key(s) for s in _as_secret_list(secrets)]
    if scheme == "standard":
        return _sign_standard(keys, message_id, timestamp, body)
    return _sign_akute(keys, message_id, timestamp, body)


def _check_message_id(message_id: str) -> None:
    # The id travels in a header: refuse what could split or corrupt it.
    if not message_id or not message_id.isascii() or not message_id.isprintable():
        raise ValueError("message_id must be non-empty printable ASCII")


def _sign_standard(keys: list[bytes], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    text = _utf8_text(body)
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    signatures = [Webhook(key).sign(msg_id=message_id, timestamp=when, data=text) for key in keys]
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: " ".join(signatures),
    }


def _utf8_text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("standard webhook bodies must be UTF-8") from None


def _sign_akute(keys: list[bytes], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    parts = [f"t={timestamp}"] + [f"v1={_akute_digest(key, timestamp, body).hex()}" for key in keys]
    return {ID_HEADER: message_id, AKUTE_SIGNATURE_HEADER: ",".join(parts)}


def _akute_digest(key: bytes, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).digest()


def _standard_digest(key: bytes, message_id: str, timestamp: int, body: bytes) -> bytes:
    signature = _sign_standard([key], message_id, timestamp, body)[SIGNATURE_HEADER]
    return base64.b64decode(signature.split(",", 1)[1])


# --- verification ----------------------------------------------------------------------------

def verify(
    scheme: Scheme,
    secret_or_secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a received delivery; raise WebhookVerificationError if it is not authentic and fresh.

    For receivers. Header names are case-insensitive. The timestamp must lie within
    `tolerance_seconds` of `now` (default: the system clock), in the past or the future, so a
    captured delivery cannot be replayed later. Any of the given secrets may match (rotation).
    A malformed secret or unknown scheme raises ValueError (a configuration error).
    """
    _check_scheme(scheme)
    keys = [secret_key(s) for s in _as_secret_list(secret_or_secrets)]
    lowered = {name.lower(): value for name, value in headers.items()}
    current = time.time() if now is None else now
    if scheme == "standard":
        _verify_standard(keys, lowered, body, tolerance_seconds, current)
    else:
        _verify_akute(keys, lowered, body, tolerance_seconds, current)


def _require_header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise WebhookVerificationError(f"missing header {name}")
    return value


def _parse_timestamp(text: str) -> int:
    # Digits only: no sign, fraction or exponent, and ASCII so '١٢٣' is not a number here.
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_TIMESTAMP_DIGITS):
        raise WebhookVerificationError("malformed timestamp")
    return int(text)


def _check_freshness(timestamp: int, tolerance_seconds: int, now: float) -> None:
    if timestamp < now - tolerance_seconds:
        raise WebhookVerificationError("timestamp too old")
    if timestamp > now + tolerance_seconds:
        raise WebhookVerificationError("timestamp too new")


def _any_match(expected: list[bytes], received: list[bytes]) -> bool:
    # compare_digest on every pair: timing does not reveal how much of a signature matched.
    return any(hmac.compare_digest(e, r) for e in expected for r in received)


def _verify_standard(keys: list[bytes], headers: Mapping[str, str], body: bytes,
                     tolerance_seconds: int, now: float) -> None:
    message_id = _require_header(headers, ID_HEADER)
    timestamp_text = _require_header(headers, TIMESTAMP_HEADER)
    signature_header = _require_header(headers, SIGNATURE_HEADER)
    timestamp = _parse_timestamp(timestamp_text)
    _check_freshness(timestamp, tolerance_seconds, now)
    received = _parse_standard_signatures(signature_header)
    try:
        _check_message_id(message_id)
        expected = [_standard_digest(key, message_id, timestamp, body) for key in keys]
    except ValueError as error:
        raise WebhookVerificationError(str(error)) from None
    if not _any_match(expected, received):
        raise WebhookVerificationError("no matching signature")


def _parse_standard_signatures(header: str) -> list[bytes]:
    """The `v1` signatures of a `webhook-signature` header; other versions are skipped, per the spec."""
    found = []
    for entry in header.split():
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except binascii.Error:
            continue
    if not found:
        raise WebhookVerificationError("malformed signature header: no v1 signature")
    return found


def _verify_akute(keys: list[bytes], headers: Mapping[str, str], body: bytes,
                  tolerance_seconds: int, now: float) -> None:
    timestamp_text, received = _parse_akute_header(_require_header(headers, AKUTE_SIGNATURE_HEADER))
    timestamp = _parse_timestamp(timestamp_text)
    _check_freshness(timestamp, tolerance_seconds, now)
    expected = [_akute_digest(key, timestamp, body) for key in keys]
    if not _any_match(expected, received):
        raise WebhookVerificationError("no matching signature")


def _parse_akute_header(header: str) -> tuple[str, list[bytes]]:
    """`t=<unix>,v1=<hex>[,v1=<hex>...]` → (timestamp text, signatures); unknown keys are skipped."""
    timestamps, signatures = [], []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(_hex_or_none(value))
    if len(timestamps) != 1:
        raise WebhookVerificationError("malformed signature header: need exactly one t=")
    valid = [s for s in signatures if s is not None]
    if not valid:
        raise WebhookVerificationError("malformed signature header: no v1 signature")
    return timestamps[0], valid


def _hex_or_none(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text) if text.isascii() else None
    except ValueError:
        return None
