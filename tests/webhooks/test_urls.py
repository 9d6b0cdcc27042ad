"""The webhook URL guard: what subscriptions may name by default, with allow_private, and https-only."""
from __future__ import annotations


import pytest

from priorauth.webhooks import UnsafeWebhookUrl, check_url, resolve_and_check
from priorauth.webhooks.urls import forbidden_address_reason, ip_literal
from tests.support.webhooks import fake_dns

ALLOWED_EVERYWHERE = [
    ("https://hooks.example.com/pa", "https://hooks.example.com/pa"),
    ("HTTPS://Hooks.Example.COM", "https://hooks.example.com/"),
    ("https://hooks.example.com:443/x?a=1#frag", "https://hooks.example.com/x?a=1"),
    ("https://hooks.example.com:8443/x", "https://hooks.example.com:8443/x"),
    ("https://8.8.8.8/hook", "https://8.8.8.8/hook"),
    ("https://[2606:4700:4700::1111]/hook", "https://[2606:4700:4700::1111]/hook"),
    ("https://bücher.example/hook", "https://xn--bcher-kva.example/hook"),
    ("https://hooks.example.com./x", "https://hooks.example.com./x"),
]

# Refused by default (the SSRF guard, in every env); allowed with allow_private (receivers on the
# developer's machine or an intranet).
PRIVATE_TARGETS = [
    ("http://127.0.0.1:8000/hook", "http://127.0.0.1:8000/hook"),
    ("http://localhost:8000/hook", "http://localhost:8000/hook"),
    ("http://[::1]/hook", "http://[::1]/hook"),
    ("http://0.0.0.0/", "http://0.0.0.0/"),
    ("http://2130706433/", "http://127.0.0.1/"),
    ("http://0x7f000001/", "http://127.0.0.1/"),
    ("http://017700000001/", "http://127.0.0.1/"),
    ("http://metadata.google.internal/computeMetadata/v1/", "http://metadata.google.internal/computeMetadata/v1/"),
    ("http://169.254.169.254/latest/meta-data/", "http://169.254.169.254/latest/meta-data/"),
    ("http://10.255.255.254/", "http://10.255.255.254/"),
    ("http://172.31.255.1/", "http://172.31.255.1/"),
    ("https://localhost/hook", "https://localhost/hook"),
    ("https://LOCALHOST./hook", "https://localhost./hook"),
    ("https://app.localhost/hook", "https://app.localhost/hook"),
    ("https://metadata.google.internal/", "https://metadata.google.internal/"),
    ("https://printer.local/", "https://printer.local/"),
    ("https://127.0.0.1/", "https://127.0.0.1/"),
    ("https://127.1/", "https://127.0.0.1/"),
    ("https://2130706433/", "https://127.0.0.1/"),
    ("https://0x7f000001/", "https://127.0.0.1/"),
    ("https://0177.0.0.1/", "https://127.0.0.1/"),
    ("https://0x7f.0.0.1/", "https://127.0.0.1/"),
    ("https://017700000001/", "https://127.0.0.1/"),
    ("https://0/", "https://0.0.0.0/"),
    ("https://10.0.0.5/", "https://10.0.0.5/"),
    ("https://172.16.3.4/", "https://172.16.3.4/"),
    ("https://192.168.1.1/", "https://192.168.1.1/"),
    ("https://169.254.169.254/latest/meta-data/", "https://169.254.169.254/latest/meta-data/"),
    ("https://100.64.0.1/", "https://100.64.0.1/"),
    ("https://224.0.0.1/", "https://224.0.0.1/"),
    ("https://240.0.0.1/", "https://240.0.0.1/"),
    ("https://255.255.255.255/", "https://255.255.255.255/"),
    ("https://[::1]/", "https://[::1]/"),
    ("https://[::]/", "https://[::]/"),
    ("https://[fe80::1]/", "https://[fe80::1]/"),
    ("https://[fc00::1]/", "https://[fc00::1]/"),
    ("https://[fec0::1]/", "https://[fec0::1]/"),
    ("https://[ff02::1]/", "https://[ff02::1]/"),
    ("https://[::ffff:127.0.0.1]/", "https://[::ffff:7f00:1]/"),
    ("https://[::ffff:169.254.169.254]/", "https://[::ffff:a9fe:a9fe]/"),
    ("https://[2002:a00:1::1]/", "https://[2002:a00:1::1]/"),  # 6to4 wrapping 10.0.0.1
]

# Plain http to a public host: allowed unless https_only (PRIORAUTH_ENV=production).
PUBLIC_HTTP = [
    ("http://hooks.example.com/pa", "http://hooks.example.com/pa"),
    ("http://8.8.8.8:8080/pa", "http://8.8.8.8:8080/pa"),
]

REFUSED_EVERYWHERE = [
    "",
    "ftp://hooks.example.com/",
    "file:///etc/passwd",
    "gopher://hooks.example.com/",
    "javascript:alert(1)",
    "hooks.example.com/pa",
    "https://",
    "https:///path",
    "https://user:pass@hooks.example.com/",
    "https://user@hooks.example.com/",
    "https://hooks.example.com@evil.example/",
    "https://hooks.example.com:0/",
    "https://hooks.example.com:99999/",
    "https://hooks.example.com:http/",
    "https://hooks.example.com/a b",
    "https://hooks.exa\nmple.com/",
    "https://hooks.exa\tmple.com/",
    "https://[::1/",
    "https://1.2.3.4.5/",
    "https://256.1.1.1/",
    "https://08.0.0.1/",
    "https://example.123/",
    "https://" + "a" * 64 + ".example/",
    "https://hooks.example.com/" + "x" * 2048,
]


RULES = [{}, {"allow_private": True}, {"https_only": True}, {"allow_private": True, "https_only": True}]


@pytest.mark.parametrize(("url", "normalized"), ALLOWED_EVERYWHERE)
@pytest.mark.parametrize("rules", RULES)
def test_allowed_everywhere(url, normalized, rules):
    assert check_url(url, **rules) == normalized


@pytest.mark.parametrize(("url", "_normalized"), PRIVATE_TARGETS)
@pytest.mark.parametrize("https_only", [False, True])
def test_private_targets_are_refused_by_default(url, _normalized, https_only):
    with pytest.raises(UnsafeWebhookUrl):
        check_url(url, https_only=https_only)


@pytest.mark.parametrize(("url", "normalized"), PRIVATE_TARGETS)
def test_allow_private_allows_local_targets(url, normalized):
    assert check_url(url, allow_private=True) == normalized


@pytest.mark.parametrize(("url", "normalized"), PUBLIC_HTTP)
def test_plain_http_is_refused_only_when_https_only(url, normalized):
    assert check_url(url) == normalized
    assert check_url(url, allow_private=True) == normalized
    for rules in ({"https_only": True}, {"https_only": True, "allow_private": True}):
        with pytest.raises(UnsafeWebhookUrl, match="https"):
            check_url(url, **rules)


@pytest.mark.parametrize("url", REFUSED_EVERYWHERE)
@pytest.mark.parametrize("rules", RULES)
def test_refused_everywhere(url, rules):
    with pytest.raises(UnsafeWebhookUrl) as caught:
        check_url(url, **rules)
    assert caught.value.reason


def test_length_limit_is_inclusive():
    base = "https://hooks.example.com/"
    url = base + "x" * (2048 - len(base))
    assert check_url(url, https_only=True) == url


def test_refusal_reasons_name_the_problem():
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        check_url("https://2130706433/")
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        check_url("http://hooks.example.com/", https_only=True)
    with pytest.raises(UnsafeWebhookUrl, match="credentials"):
        check_url("https://a:b@hooks.example.com/")


def test_unsafe_url_is_a_value_error():
    assert issubclass(UnsafeWebhookUrl, ValueError)


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0300.0250.1", "192.168.0.1"),
    ("10.1", "10.0.0.1"),
    ("1.2.3.4.", "1.2.3.4"),
    ("example.com", None),
    ("1.example.com", None),
])
def test_ip_literal_spellings(host, address):
    parsed = ip_literal(host)
    assert (str(parsed) if parsed else None) == address


def test_public_addresses_have_no_forbidden_reason():
    from ipaddress import ip_address
    for text in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]:
        assert forbidden_address_reason(ip_address(text)) is None, text


# --- after DNS -------------------------------------------------------------------------------

def test_localhost_refused_by_default():
    with pytest.raises(UnsafeWebhookUrl):
        resolve_and_check("localhost", 443)


def test_localhost_allowed_with_allow_private():
    addresses = resolve_and_check("localhost", 8000, allow_private=True)
    assert addresses and set(addresses) <= {"127.0.0.1", "::1"}


def test_public_name_resolving_to_private_address_is_refused():
    fake = fake_dns({"rebind.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(UnsafeWebhookUrl, match="10.0.0.7"):
        resolve_and_check("rebind.example", 443, getaddrinfo=fake)
    addresses = resolve_and_check("rebind.example", 443, allow_private=True, getaddrinfo=fake)
    assert addresses == ["93.184.216.34", "10.0.0.7"]


def test_mapped_ipv6_resolution_is_refused():
    fake = fake_dns({"sneaky.example": ["::ffff:169.254.169.254"]})
    with pytest.raises(UnsafeWebhookUrl, match="link-local"):
        resolve_and_check("sneaky.example", 443, getaddrinfo=fake)


def test_public_resolution_returns_unique_addresses():
    fake = fake_dns({"hooks.example": ["93.184.216.34", "93.184.216.34", "2606:2800::1"]})
    addresses = resolve_and_check("hooks.example", 443, getaddrinfo=fake)
    assert addresses == ["93.184.216.34", "2606:2800::1"]


def test_dns_failure_is_an_os_error():
    with pytest.raises(OSError):
        resolve_and_check("nowhere.example", 443, getaddrinfo=fake_dns({}))


def test_the_guard_follows_the_settings_not_the_env():
    from priorauth.config import Settings
    from priorauth.webhooks.urls import UrlGuard

    assert Settings.model_fields["webhook_allow_private"].default is False
    for env in ("development", "production"):
        guard = UrlGuard.of(Settings(env=env, webhook_allow_private=False))
        assert not guard.allow_private and guard.https_only == (env == "production")
        with pytest.raises(UnsafeWebhookUrl, match="loopback"):
            guard.check("https://127.0.0.1/")
    loosened = UrlGuard.of(Settings(env="production", webhook_allow_private=True))
    assert loosened.check("https://127.0.0.1/") == "https://127.0.0.1/"
    assert loosened.addresses("https://127.0.0.1/") is None  # connect as is
