"""The webhook URL guard: which URLs a subscription may name, and (after DNS) which addresses we may reach.

The guard is always on (SSRF): a URL must not point at the engine's own network (loopback, private,
link-local or otherwise non-public addresses, local names such as `localhost` or
`metadata.google.internal`). Only `allow_private` (the setting PRIORAUTH_WEBHOOK_ALLOW_PRIVATE) turns
it off, for receivers on the developer's machine or an intranet. Separately, `https_only`
(PRIORAUTH_ENV=production) refuses plain http.

`check_url` is pure and runs when a subscription is saved and before each delivery. A public name can
still resolve to a private address, so `resolve_and_check` (the one function here that does I/O)
resolves it and checks every address; the delivery worker then connects to an address it returned.
`UrlGuard` bundles the two with one configuration's rules.
"""
from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Names that resolve to the host itself or to an internal network by convention (RFC 6761,
# cloud metadata `*.internal`, mDNS `*.local`).
FORBIDDEN_NAMES = ("localhost",)
FORBIDDEN_SUFFIXES = (".localhost", ".internal", ".local")


class UnsafeWebhookUrl(ValueError):
    """A webhook URL (or the address it resolved to) that we refuse; `reason` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_url(url: str, *, allow_private: bool = False, https_only: bool = False) -> str:
    """The normalized URL if it is an acceptable webhook target; UnsafeWebhookUrl otherwise.

    Always: http(s) only, a host, no credentials, at most 2048 characters, no whitespace or
    control characters. Unless `allow_private`: the host must not be a forbidden name or an IP
    literal in a non-public range (any IPv4 spelling: `2130706433`, `0x7f.1`, ...). With
    `https_only`: https only.
    Normalized: scheme and host lower-case, IP hosts in canonical form, default port and fragment
    dropped, empty path becomes `/`.
    """
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("URL scheme must be http or https")
    if https_only and scheme != "https":
        raise UnsafeWebhookUrl("URL scheme must be https in production")
    if "@" in parts.netloc:
        raise UnsafeWebhookUrl("URL must not contain credentials")
    host = _canonical_host(parts.hostname or "")
    port = _port(parts)
    if not allow_private:
        check_host(host)
    return _rebuild(scheme, host, port, parts)


def check_host(host: str) -> None:
    """Refuse (UnsafeWebhookUrl) a host name or IP literal of the engine's own network."""
    name = host.lower().rstrip(".")
    if name in FORBIDDEN_NAMES or name.endswith(FORBIDDEN_SUFFIXES):
        raise UnsafeWebhookUrl(f"host {host!r} is a local or internal name")
    address = ip_literal(name)
    if address is not None:
        reason = forbidden_address_reason(address)
        if reason:
            raise UnsafeWebhookUrl(f"host {host!r} is a {reason} address")


def resolve_and_check(host: str, port: int, *, allow_private: bool = False,
                      getaddrinfo=socket.getaddrinfo) -> list[str]:
    """Resolve `host` (blocking; run it in a thread from async code) and return its addresses.

    Unless `allow_private`, raise UnsafeWebhookUrl if the name is forbidden or if ANY address is
    in a non-public range: a name with one private address could be made to reach it. The caller
    should connect to one of the returned addresses, not resolve again (DNS rebinding).
    A DNS failure raises OSError (socket.gaierror): transient, the delivery can be retried.
    """
    if not allow_private:
        check_host(host)
    addresses = _resolve(host, port, getaddrinfo)
    if not allow_private:
        for text in addresses:
            reason = forbidden_address_reason(ipaddress.ip_address(text))
            if reason:
                raise UnsafeWebhookUrl(f"host {host!r} resolves to a {reason} address ({text})")
    return addresses


@dataclass(frozen=True)
class UrlGuard:
    """The webhook URL rules of one configuration, and the DNS they resolve with (a stand-in in tests)."""

    allow_private: bool = False  # PRIORAUTH_WEBHOOK_ALLOW_PRIVATE: the SSRF guard is off
    https_only: bool = False  # PRIORAUTH_ENV=production
    resolve: Callable[[str, int], list[str]] = resolve_and_check

    @classmethod
    def of(cls, settings, resolve: Callable[[str, int], list[str]] = resolve_and_check) -> UrlGuard:
        return cls(settings.webhook_allow_private, settings.env == "production", resolve)

    def check(self, url: str) -> str:
        return check_url(url, allow_private=self.allow_private, https_only=self.https_only)

    def addresses(self, url: str) -> list[str] | None:
        """Blocking: the checked addresses of a checked URL's host, to connect to; None when the guard is
        off (connect to the URL as it is). UnsafeWebhookUrl for a forbidden address, OSError for DNS."""
        if self.allow_private:
            return None
        parts = urlsplit(url)
        return self.resolve(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


def _resolve(host: str, port: int, getaddrinfo) -> list[str]:
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        if sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


# --- IP addresses ----------------------------------------------------------------------------

def forbidden_address_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address (e.g. 'loopback'), or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv6 address can carry an IPv4 one that the network stack will actually reach.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return forbidden_address_reason(embedded)
        if address.is_site_local:
            return "site-local"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        # Catches the rest, e.g. shared carrier-grade NAT space 100.64.0.0/10.
        ("non-global", not address.is_global),
    )
    return next((reason for reason, applies in checks if applies), None)


def ip_literal(host: str) -> IPAddress | None:
    """The IP address a URL host denotes, or None for a domain name.

    Accepts every IPv4 spelling that URL parsers and inet_aton accept (WHATWG URL standard):
    1 to 4 dot-separated parts, each decimal, octal (leading 0) or hex (0x). A host whose last
    label is numeric but does not parse is refused rather than treated as a name.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()  # one trailing dot is allowed, as in a fully qualified name
    if not _looks_numeric(labels[-1]):
        return None
    address = _parse_legacy_ipv4(labels)
    if address is None:
        raise UnsafeWebhookUrl(f"host {host!r} is neither a valid IP address nor a domain name")
    return address


def _looks_numeric(label: str) -> bool:
    if label[:2].lower() == "0x":
        return all(c in "0123456789abcdefABCDEF" for c in label[2:])
    return label.isascii() and label.isdigit()


def _parse_legacy_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    if len(labels) > 4:
        return None
    numbers = [_parse_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        return None
    *leading, last = numbers
    # Leading parts are single bytes; the last fills the remaining bytes ('127.1' is 127.0.0.1).
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, part in enumerate(leading):
        value += part * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


def _parse_ipv4_number(label: str) -> int | None:
    if not label or not label.isascii():
        return None
    text, base = label, 10
    if text[:2].lower() == "0x":
        text, base = text[2:] or "0", 16
    elif len(text) > 1 and text.startswith("0"):
        text, base = text[1:], 8
    try:
        return int(text, base) if text.isalnum() else None
    except ValueError:
        return None


# --- URL pieces ------------------------------------------------------------------------------

def _split(url: str) -> SplitResult:
    if not isinstance(url, str) or not url:
        raise UnsafeWebhookUrl("URL is required")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl(f"URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tabs and newlines; refuse them (and spaces) rather than guess.
    if any(c.isspace() or not c.isprintable() for c in url):
        raise UnsafeWebhookUrl("URL must not contain whitespace or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError as error:
        raise UnsafeWebhookUrl(f"URL is malformed: {error}") from None
    return parts


def _canonical_host(host: str) -> str:
    if not host:
        raise UnsafeWebhookUrl("URL must name a host")
    address = ip_literal(host)
    if address is not None:
        return address.compressed
    try:
        # Non-ASCII names go on the wire as IDNA; check and store what will actually be resolved.
        return host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeWebhookUrl(f"host {host!r} is not a valid domain name") from None


def _port(parts: SplitResult) -> int | None:
    port = parts.port
    if port is not None and not 1 <= port <= 65535:
        raise UnsafeWebhookUrl("URL port must be between 1 and 65535")
    return port


def _rebuild(scheme: str, host: str, port: int | None, parts: SplitResult) -> str:
    default_port = 443 if scheme == "https" else 80
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != default_port:
        netloc += f":{port}"
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{netloc}{path}{query}"
