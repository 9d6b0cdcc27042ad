"""The webhook URL guard: what subscriptions may name, in development and in production."""
from __future__ import annotations

import socket

import pytest

from priorauth.webhooks import UnsafeWebhookUrl, check_url, resolve_and_check
from priorauth.webhooks.urls import forbidden_address_reason, ip_literal

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

# Allowed in development (receivers on the developer's machine), refused in production.
DEVELOPMENT_ONLY = [
    ("http://hooks.example.com/pa", "http://hooks.example.com/pa"),
    ("http://localhost:8000/hook", "http://localhost:8000/hook"),
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


@pytest.mark.parametrize(("url", "normalized"), ALLOWED_EVERYWHERE)
@pytest.mark.parametrize("production", [False, True])
def test_allowed_everywhere(url, normalized, production):
    assert check_url(url, production=production) == normalized


@pytest.mark.parametrize(("url", "normalized"), DEVELOPMENT_ONLY)
def test_development_allows_local_targets(url, normalized):
    assert check_url(url, production=False) == normalized


@pytest.mark.parametrize(("url", "_normalized"), DEVELOPMENT_ONLY)
def test_production_refuses_local_targets(url, _normalized):
    with pytest.raises(UnsafeWebhookUrl):
        check_url(url, production=True)


@pytest.mark.parametrize("url", REFUSED_EVERYWHERE)
@pytest.mark.parametrize("production", [False, True])
def test_refused_everywhere(url, production):
    with pytest.raises(UnsafeWebhookUrl) as caught:
        check_url(url, production=production)
    assert caught.value.reason


def test_length_limit_is_inclusive():
    base = "https://hooks.example.com/"
    url = base + "x" * (2048 - len(base))
    assert check_url(url, production=True) == url


def test_refusal_reasons_name_the_problem():
    with pytest.raises(UnsafeWebhookUrl, match="loopback"):
        check_url("https://2130706433/", production=True)
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        check_url("http://hooks.example.com/", production=True)
    with pytest.raises(UnsafeWebhookUrl, match="credentials"):
        check_url("https://a:b@hooks.example.com/", production=True)


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

def _fake_getaddrinfo(addresses):
    def getaddrinfo(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (a, port, 0, 0) if ":" in a else (a, port))
            for a in addresses
        ]
    return getaddrinfo


def test_localhost_refused_in_production():
    with pytest.raises(UnsafeWebhookUrl):
        resolve_and_check("localhost", 443, production=True)


def test_localhost_allowed_in_development():
    addresses = resolve_and_check("localhost", 8000, production=False)
    assert addresses and set(addresses) <= {"127.0.0.1", "::1"}


def test_public_name_resolving_to_private_address_is_refused():
    fake = _fake_getaddrinfo(["93.184.216.34", "10.0.0.7"])
    with pytest.raises(UnsafeWebhookUrl, match="10.0.0.7"):
        resolve_and_check("rebind.example", 443, production=True, getaddrinfo=fake)
    addresses = resolve_and_check("rebind.example", 443, production=False, getaddrinfo=fake)
    assert addresses == ["93.184.216.34", "10.0.0.7"]


def test_mapped_ipv6_resolution_is_refused():
    fake = _fake_getaddrinfo(["::ffff:169.254.169.254"])
    with pytest.raises(UnsafeWebhookUrl, match="link-local"):
        resolve_and_check("sneaky.example", 443, production=True, getaddrinfo=fake)


def test_public_resolution_returns_unique_addresses():
    fake = _fake_getaddrinfo(["93.184.216.34", "93.184.216.34", "2606:2800::1"])
    addresses = resolve_and_check("hooks.example", 443, production=True, getaddrinfo=fake)
    assert addresses == ["93.184.216.34", "2606:2800::1"]


def test_dns_failure_is_an_os_error():
    def fake(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with pytest.raises(OSError):
        resolve_and_check("nowhere.example", 443, production=True, getaddrinfo=fake)
