"""Webhooks on the network: which URLs an admin may register (the SSRF rule), the sending of one
delivery (signed, to the address that was checked), and the signing secrets kept encrypted.

The SSRF rule: `https://` only, to a host whose every address is public (`ipaddress` says global, and
not multicast, reserved, loopback, link-local or unspecified, for IPv4-mapped, 6to4, Teredo and NAT64
IPv6 addresses by the IPv4 address inside too). Hosts the operator lists in
CALLCENTER_WEBHOOK_ALLOW_HOSTS may also use http and any address. Checked when a webhook is created
or changed (a literal IP, else the name's DNS answers), and again on every delivery by the HTTP
client's resolver: the connection goes to the very address checked (no second lookup, so DNS
rebinding gains nothing), while the URL's host name stays the Host header and the TLS SNI name.
Redirects are never followed.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import ipaddress
import os
import socket
import time
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tornado.httpclient import HTTPRequest
from tornado.netutil import DefaultLoopResolver, Resolver
from tornado.simple_httpclient import SimpleAsyncHTTPClient

from .errors import InvalidInput

MAX_URL_CHARS = 2000
DNS_TIMEOUT_SECS = 5.0
USER_AGENT = "callcenter-webhooks"
MAX_CONCURRENT_DELIVERIES = 32
# What is kept of a receiver's refusal or a network error (the deliveries list shows it).
MAX_ERROR_CHARS = 200
# A 4xx other than these means the receiver refuses the event as such: recorded, not retried.
RETRYABLE_4XX = (408, 429)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(OSError):
    """A webhook's host is (or resolves to) an address webhooks may not reach."""


def address_allowed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A public unicast address (and, for IPv6 that carries an IPv4 address, that one too)."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and not address_allowed(inner):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_loopback or ip.is_link_local
                                 or ip.is_unspecified or ip.is_private)


def _literal_ip(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_url(url: str, allow_hosts: tuple[str, ...]) -> tuple[str, int, bool]:
    """The URL's (host, port, operator-allowed), or InvalidInput `invalid_url` saying what is wrong.
    A literal IP is checked here; a name's addresses by `check_destination`."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"url {why}", code="invalid_url")

    if len(url) > MAX_URL_CHARS:
        raise bad(f"is longer than {MAX_URL_CHARS} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise bad("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise bad("is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise bad("must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise bad("must not carry a user name or password")
    if parts.fragment:
        raise bad("must not have a #fragment")
    allowed = host in allow_hosts
    if parts.scheme == "http" and not allowed:
        raise bad("must use https:// (http only for hosts the operator allows)")
    ip = _literal_ip(host)
    if ip is not None and not allowed and not address_allowed(ip):
        raise bad("points to a private, loopback, link-local or otherwise non-public address")
    if host == "localhost" or host.endswith(".localhost"):
        if not allowed:
            raise bad("points to this machine")
    return host, port or (443 if parts.scheme == "https" else 80), allowed


async def public_addresses(host: str, port: int, family: int = socket.AF_UNSPEC) -> list[tuple[int, tuple]]:
    """The host's addresses, every one of them public, as a resolver returns them; BlockedAddress
    when any is not (or there is none)."""
    ip = _literal_ip(host)
    if ip is not None:
        if not address_allowed(ip):
            raise BlockedAddress(f"{host} is not a public address")
        return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, (str(ip), port))]
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM), DNS_TIMEOUT_SECS)
    except socket.gaierror as exc:
        raise BlockedAddress(f"{host} does not resolve ({exc.strerror or exc})") from None
    except asyncio.TimeoutError:
        raise BlockedAddress(f"{host} did not resolve within {DNS_TIMEOUT_SECS:g} s") from None
    found = []
    for fam, _type, _proto, _canon, sockaddr in infos:
        if not address_allowed(ipaddress.ip_address(sockaddr[0].split("%", 1)[0])):
            raise BlockedAddress(f"{host} resolves to a non-public address")
        found.append((fam, sockaddr))
    if not found:
        raise BlockedAddress(f"{host} has no address")
    return found


async def check_destination(url: str, allow_hosts: tuple[str, ...]) -> None:
    """A webhook URL as an admin gives it: its shape, and the addresses its host has now."""
    host, port, allowed = check_url(url, allow_hosts)
    if not allowed:
        try:
            await public_addresses(host, port)
        except BlockedAddress as exc:
            raise InvalidInput(f"url: {exc}", code="invalid_url") from None


class CheckedResolver(Resolver):
    """The delivery client's resolver: only public addresses (any for the operator's allowed hosts).
    The client connects to what this returns, so what was checked is what is reached."""

    def initialize(self, allow_hosts: tuple[str, ...] = ()) -> None:  # (tornado's Configurable)
        self.allow_hosts = allow_hosts
        self.plain = DefaultLoopResolver()

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC):
        if host.lower().strip("[]") in self.allow_hosts:
            return await self.plain.resolve(host, port, family)
        return await public_addresses(host.strip("[]"), port, family)


@dataclasses.dataclass
class Attempt:
    delivered: bool
    retryable: bool
    status_code: int | None
    error: str | None
    duration_ms: int


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs one delivery: any 2xx is delivered; 5xx, 408, 429, timeouts and network errors may be
    retried; 3xx (never followed) and other 4xx are failures without a retry."""

    def __init__(self, allow_hosts: tuple[str, ...], timeout_secs: float):
        self.allow_hosts = allow_hosts
        self.timeout_secs = timeout_secs
        self._http: SimpleAsyncHTTPClient | None = None

    @property
    def http(self) -> SimpleAsyncHTTPClient:
        if self._http is None:
            self._http = SimpleAsyncHTTPClient(force_instance=True, max_clients=MAX_CONCURRENT_DELIVERIES,
                                               resolver=CheckedResolver(allow_hosts=self.allow_hosts))
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    async def send(self, url: str, secret: str, event: str, event_id: str, body: bytes) -> Attempt:
        started = time.monotonic()
        try:
            check_url(url, self.allow_hosts)
        except InvalidInput as exc:
            return Attempt(False, False, None, exc.message[:MAX_ERROR_CHARS], 0)
        request = HTTPRequest(url, method="POST", body=body, follow_redirects=False, decompress_response=False,
                              connect_timeout=self.timeout_secs, request_timeout=self.timeout_secs,
                              headers={"Content-Type": "application/json", "User-Agent": USER_AGENT,
                                       "X-Callcenter-Event": event, "X-Callcenter-Delivery": event_id,
                                       "X-Callcenter-Signature": signature(secret, body)})
        try:
            response = await self.http.fetch(request, raise_error=False)
            code, error = response.code, response.error
        except Exception as exc:  # noqa: BLE001 - a network failure of any kind (refused, reset, TLS, blocked)
            code, error = 599, exc
        duration_ms = int((time.monotonic() - started) * 1000)
        if 200 <= code < 300:
            return Attempt(True, False, code, None, duration_ms)
        if code == 599:
            text = "timed out" if "timeout" in f"{type(error).__name__} {error}".lower() else \
                f"{type(error).__name__}: {error}"
            return Attempt(False, True, None, text[:MAX_ERROR_CHARS], duration_ms)
        retryable = code >= 500 or code in RETRYABLE_4XX
        return Attempt(False, retryable, code, f"HTTP {code}", duration_ms)


class SecretBox:
    """Signing secrets as stored: AES-GCM under a key derived from CALLCENTER_SECRET_KEY, so a copy of
    the database alone does not let anyone forge deliveries."""

    PREFIX = "v1:"

    def __init__(self, server_secret: str):
        self._aead = AESGCM(hashlib.sha256(b"callcenter webhook secrets\0" + server_secret.encode()).digest())

    def seal(self, secret: str) -> str:
        nonce = os.urandom(12)
        return self.PREFIX + base64.urlsafe_b64encode(nonce + self._aead.encrypt(nonce, secret.encode(), None)).decode()

    def open(self, stored: str) -> str:
        raw = base64.urlsafe_b64decode(stored[len(self.PREFIX):].encode())
        return self._aead.decrypt(raw[:12], raw[12:], None).decode()
