"""Webhook signing and verification, checked against independent implementations."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timezone

import pytest
import standardwebhooks

from priorauth.webhooks import WebhookVerificationError, new_secret, sign, verify
from priorauth.webhooks.signing import secret_key

NOW = 1_700_000_000
BODY = b'{"type":"authorization.updated","data":{"id":"pa_1","status":"approved","note":"caf\xc3\xa9"}}'
MESSAGE_ID = "msg_2Yx8"


@pytest.fixture
def secret() -> str:
    return new_secret()


def _headers(scheme, secrets, *, body=BODY, timestamp=NOW, message_id=MESSAGE_ID):
    return sign(scheme, secrets, message_id, timestamp, body)


def _reason(scheme, secrets, headers, body=BODY, now=NOW) -> str:
    with pytest.raises(WebhookVerificationError) as caught:
        verify(scheme, secrets, headers, body, now=now)
    return caught.value.reason


# --- secrets ---------------------------------------------------------------------------------

def test_new_secret_is_whsec_prefixed_base64_of_32_bytes():
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert new_secret() != secret


@pytest.mark.parametrize("bad", ["", "whsec_", "abc", "whsec_***", "WHSEC_AAAA"])
def test_malformed_secrets_are_configuration_errors(bad):
    with pytest.raises(ValueError):
        sign("standard", bad, MESSAGE_ID, NOW, BODY)


def test_unknown_scheme_is_a_configuration_error(secret):
    with pytest.raises(ValueError):
        sign("hmac", secret, MESSAGE_ID, NOW, BODY)
    with pytest.raises(ValueError):
        verify("hmac", secret, {}, BODY, now=NOW)


# --- standard scheme -------------------------------------------------------------------------

def test_standard_headers_shape(secret):
    headers = _headers("standard", secret)
    assert headers["webhook-id"] == MESSAGE_ID
    assert headers["webhook-timestamp"] == str(NOW)
    version, encoded = headers["webhook-signature"].split(",")
    assert version == "v1" and len(base64.b64decode(encoded)) == 32


def test_standard_round_trip(secret):
    verify("standard", secret, _headers("standard", secret), BODY, now=NOW)


def test_standard_signature_verified_by_the_standardwebhooks_library(secret):
    # The library checks against the real clock, so sign with the current time.
    timestamp = int(time.time())
    headers = _headers("standard", secret, timestamp=timestamp)
    assert standardwebhooks.Webhook(secret).verify(BODY, headers, json_parse=False) is None


def test_standard_matches_the_spec_by_hand(secret):
    expected = hmac.new(secret_key(secret), f"{MESSAGE_ID}.{NOW}.".encode() + BODY, hashlib.sha256).digest()
    assert _headers("standard", secret)["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_standard_accepts_library_signed_delivery(secret):
    when = datetime.fromtimestamp(NOW, tz=timezone.utc)
    signature = standardwebhooks.Webhook(secret).sign(MESSAGE_ID, when, BODY.decode())
    headers = {"webhook-id": MESSAGE_ID, "webhook-timestamp": str(NOW), "webhook-signature": signature}
    verify("standard", secret, headers, BODY, now=NOW)


def test_standard_rejects_non_utf8_body_at_signing(secret):
    with pytest.raises(ValueError):
        sign("standard", secret, MESSAGE_ID, NOW, b"\xff\xfe")


def test_standard_skips_unknown_signature_versions(secret):
    headers = _headers("standard", secret)
    headers["webhook-signature"] = "v1a,AAAA " + headers["webhook-signature"]
    verify("standard", secret, headers, BODY, now=NOW)


@pytest.mark.parametrize("value", ["", "v1a,AAAA", "v1,***", "nonsense", "v1"])
def test_standard_malformed_signature_header(secret, value):
    headers = _headers("standard", secret) | {"webhook-signature": value}
    assert _reason("standard", secret, headers)


@pytest.mark.parametrize("value", ["abc", "-1700000000", "1700000000.5", "1e9", "١٧٠٠٠٠٠٠٠٠", "9" * 20])
def test_standard_malformed_timestamp(secret, value):
    headers = _headers("standard", secret) | {"webhook-timestamp": value}
    assert _reason("standard", secret, headers) == "malformed timestamp"


# --- akute scheme ----------------------------------------------------------------------------

def _independent_akute_hex(secret: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret[len("whsec_"):])
    return hmac.new(key, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def test_akute_headers_match_an_independent_hmac(secret):
    headers = _headers("akute", secret)
    assert headers == {
        "webhook-id": MESSAGE_ID,
        "x-akute-signature": f"t={NOW},v1={_independent_akute_hex(secret, NOW, BODY)}",
    }


def test_akute_round_trip(secret):
    verify("akute", secret, _headers("akute", secret), BODY, now=NOW)


def test_akute_signs_any_bytes(secret):
    body = b"\xff\x00binary"
    verify("akute", secret, _headers("akute", secret, body=body), body, now=NOW)


def test_akute_accepts_upper_case_hex_and_spaces(secret):
    digest = _independent_akute_hex(secret, NOW, BODY).upper()
    verify("akute", secret, {"X-Akute-Signature": f"t={NOW}, v1={digest}"}, BODY, now=NOW)


def test_akute_does_not_need_the_id_header(secret):
    headers = _headers("akute", secret)
    del headers["webhook-id"]
    verify("akute", secret, headers, BODY, now=NOW)


@pytest.mark.parametrize("value", ["", "v1=00", f"t={NOW}", f"t={NOW},v1=zz", f"t={NOW},t={NOW},v1=00"])
def test_akute_malformed_header(secret, value):
    assert _reason("akute", secret, {"x-akute-signature": value})


def test_akute_tampered_timestamp_fails(secret):
    header = _headers("akute", secret)["x-akute-signature"].replace(f"t={NOW}", f"t={NOW + 1}")
    assert _reason("akute", secret, {"x-akute-signature": header}) == "no matching signature"


# --- both schemes ----------------------------------------------------------------------------

SCHEMES = ["standard", "akute"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tampered_body_fails(scheme, secret):
    headers = _headers(scheme, secret)
    assert _reason(scheme, secret, headers, body=BODY + b" ") == "no matching signature"


def test_tampered_id_and_timestamp_fail_for_standard(secret):
    headers = _headers("standard", secret)
    assert _reason("standard", secret, headers | {"webhook-id": "msg_other"}) == "no matching signature"
    assert _reason("standard", secret, headers | {"webhook-timestamp": str(NOW - 1)}) == "no matching signature"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_secret_fails(scheme, secret):
    assert _reason(scheme, new_secret(), _headers(scheme, secret)) == "no matching signature"


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize(("offset", "reason"), [(-301, "timestamp too new"), (301, "timestamp too old")])
def test_timestamps_outside_tolerance_fail(scheme, secret, offset, reason):
    headers = _headers(scheme, secret)
    assert _reason(scheme, secret, headers, now=NOW + offset) == reason


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_at_the_tolerance_edge_pass(scheme, secret, offset):
    verify(scheme, secret, _headers(scheme, secret), BODY, now=NOW + offset)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_custom_tolerance(scheme, secret):
    headers = _headers(scheme, secret)
    verify(scheme, secret, headers, BODY, now=NOW + 3000, tolerance_seconds=3600)
    with pytest.raises(WebhookVerificationError):
        verify(scheme, secret, headers, BODY, now=NOW + 30, tolerance_seconds=10)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_default_clock_is_the_system_clock(scheme, secret):
    verify(scheme, secret, _headers(scheme, secret, timestamp=int(time.time())), BODY)
    with pytest.raises(WebhookVerificationError):
        verify(scheme, secret, _headers(scheme, secret), BODY)  # NOW is long past


@pytest.mark.parametrize("scheme", SCHEMES)
def test_header_names_are_case_insensitive(scheme, secret):
    headers = {name.upper(): value for name, value in _headers(scheme, secret).items()}
    verify(scheme, secret, headers, BODY, now=NOW)
    title = {name.title(): value for name, value in _headers(scheme, secret).items()}
    verify(scheme, secret, title, BODY, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_standard_missing_header(secret, missing):
    headers = _headers("standard", secret)
    del headers[missing]
    assert _reason("standard", secret, headers) == f"missing header {missing}"


def test_akute_missing_header(secret):
    assert _reason("akute", secret, {"webhook-id": MESSAGE_ID}) == "missing header x-akute-signature"


# --- rotation --------------------------------------------------------------------------------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_rotation_signs_with_every_active_secret(scheme):
    old, new = new_secret(), new_secret()
    headers = _headers(scheme, [new, old])
    verify(scheme, new, headers, BODY, now=NOW)  # receivers that already switched
    verify(scheme, old, headers, BODY, now=NOW)  # receivers that have not yet
    verify(scheme, [new, old], headers, BODY, now=NOW)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_removed_secret_no_longer_verifies(scheme):
    old, new = new_secret(), new_secret()
    headers = _headers(scheme, [new])  # the 24 h overlap is over: only the new secret signs
    verify(scheme, new, headers, BODY, now=NOW)
    assert _reason(scheme, old, headers) == "no matching signature"


def test_rotation_header_formats(secret):
    other = new_secret()
    assert len(_headers("standard", [secret, other])["webhook-signature"].split(" ")) == 2
    akute = _headers("akute", [secret, other])["x-akute-signature"]
    assert akute == (f"t={NOW},v1={_independent_akute_hex(secret, NOW, BODY)},"
                     f"v1={_independent_akute_hex(other, NOW, BODY)}")


def test_rotation_with_the_library_verifier():
    old, new = new_secret(), new_secret()
    headers = _headers("standard", [new, old], timestamp=int(time.time()))
    standardwebhooks.Webhook(old).verify(BODY, headers, json_parse=False)
    standardwebhooks.Webhook(new).verify(BODY, headers, json_parse=False)


def test_sign_needs_a_secret():
    with pytest.raises(ValueError):
        sign("standard", [], MESSAGE_ID, NOW, BODY)


@pytest.mark.parametrize("message_id", ["", "msg\r\nx-evil: 1", "msg é"])
def test_sign_refuses_unsafe_message_ids(secret, message_id):
    with pytest.raises(ValueError):
        sign("standard", secret, message_id, NOW, BODY)
