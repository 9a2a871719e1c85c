"""The Web Push protocol, server side: what a push service needs to take a message for a browser.

- Message encryption, RFC 8291 with the "aes128gcm" content coding of RFC 8188: an ephemeral
  P-256 key agreed with the browser's `p256dh` key and its `auth` secret; one record.
- VAPID, RFC 8292: the server signs a short-lived JWT (ES256) for the push service's origin, so the
  service knows which application server a subscription belongs to.
- Which subscriptions we accept: https endpoints on known push-service hosts only (an agent's
  subscription must not make the server POST anywhere else), with keys that are a real P-256
  point and a 16-byte secret.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidInput

# One record of this size carries the whole message. Push services accept 4,096 bytes of body;
# the header (86 bytes), the padding delimiter and the GCM tag leave this much for the payload.
RECORD_SIZE = 4096
MAX_PAYLOAD_BYTES = RECORD_SIZE - 86 - 1 - 16
# A VAPID token lives at most 24 h (RFC 8292); ours 12 h, reused for an hour per push service.
VAPID_TOKEN_TTL_SECS = 12 * 3600
VAPID_TOKEN_REUSE_SECS = 3600
MAX_ENDPOINT_CHARS = 2000
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class InvalidSubscription(InvalidInput):
    """A subscription we will not store (400); the message says why, for the person who sent it."""
    code = "invalid_subscription"


def b64url_decode(text: str) -> bytes:
    """Base64url with or without padding (browsers send it without)."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def endpoint_hash(endpoint: str) -> str:
    """The key a subscription is stored under (endpoints are long; an index on them would not fit)."""
    return hashlib.sha256(endpoint.encode("utf-8")).hexdigest()


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]):
                return True
        elif host == entry:
            return True
    return False


@dataclass(frozen=True)
class Subscription:
    endpoint: str
    p256dh: str  # base64url, as the browser gave it
    auth: str


def parse_subscription(endpoint: str, p256dh: str, auth: str, allowed_hosts: tuple[str, ...]) -> Subscription:
    """A browser's PushSubscription, checked: InvalidSubscription otherwise."""
    if len(endpoint) > MAX_ENDPOINT_CHARS:
        raise InvalidSubscription(f"endpoint is longer than {MAX_ENDPOINT_CHARS} characters")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - a malformed port raises here
    except ValueError:
        raise InvalidSubscription("endpoint is not a URL") from None
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise InvalidSubscription("endpoint must be an https URL of a push service")
    if not host_allowed(parts.hostname, allowed_hosts):
        raise InvalidSubscription(f"{parts.hostname} is not a push service this server sends to",
                                  code="push_service_not_allowed")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(p256dh))
    except (ValueError, TypeError):
        raise InvalidSubscription("keys.p256dh is not a P-256 public key (base64url)") from None
    try:
        secret = b64url_decode(auth)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        raise InvalidSubscription("keys.auth must be 16 bytes, base64url") from None
    return Subscription(endpoint, p256dh, auth)


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def encrypt(payload: bytes, p256dh: str, auth: str, *, salt: bytes | None = None,
            sender_key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    """`payload` as an aes128gcm body for the browser holding (p256dh, auth). Salt and key are
    fresh per message; the parameters exist for the RFC's test vector."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"push payload of {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES}")
    ua_public = b64url_decode(p256dh)
    auth_secret = b64url_decode(auth)
    sender_key = sender_key or ec.generate_private_key(ec.SECP256R1())
    as_public = sender_key.public_key().public_bytes(serialization.Encoding.X962,
                                                     serialization.PublicFormat.UncompressedPoint)
    shared = sender_key.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ua_public))
    # RFC 8291 section 3.4: the auth secret and both public keys go into the input keying material.
    prk_key = _hmac(auth_secret, shared)
    ikm = _hmac(prk_key, b"WebPush: info\x00" + ua_public + as_public + b"\x01")
    salt = salt or os.urandom(16)
    prk = _hmac(salt, ikm)
    cek = _hmac(prk, b"Content-Encoding: aes128gcm\x00\x01")[:16]
    nonce = _hmac(prk, b"Content-Encoding: nonce\x00\x01")[:12]
    # One record, the last: the payload, then the delimiter 0x02 (no padding).
    ciphertext = AESGCM(cek).encrypt(nonce, payload + b"\x02", None)
    header = salt + struct.pack("!IB", RECORD_SIZE, len(as_public)) + as_public
    return header + ciphertext


class VapidKey:
    """The application server's key pair and the Authorization header it signs per push service."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, subject: str):
        self.private_key = private_key
        self.subject = subject
        self.public_key = b64url(private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
        self._tokens: dict[str, tuple[float, str]] = {}  # audience -> (reuse until, token)

    @classmethod
    def from_config(cls, raw_private_key: str | None, secret_key: str, subject: str) -> "VapidKey":
        """The configured key (base64url of the 32-byte private scalar, as web-push tools print it),
        else one derived from the secret key: the same on every worker, with nothing to store.
        ValueError for a key that is not one."""
        if raw_private_key:
            try:
                scalar = int.from_bytes(b64url_decode(raw_private_key.strip()), "big")
            except ValueError:
                raise ValueError("CALLCENTER_VAPID_PRIVATE_KEY is not base64url") from None
            if not 0 < scalar < _P256_ORDER:
                raise ValueError("CALLCENTER_VAPID_PRIVATE_KEY is not a P-256 private key (32 bytes, base64url)")
        else:
            digest = _hmac(secret_key.encode("utf-8"), b"callcenter web push (VAPID) key v1")
            scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
        return cls(ec.derive_private_key(scalar, ec.SECP256R1()), subject)

    def authorization(self, endpoint: str, now: float | None = None) -> str:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time() if now is None else now
        cached = self._tokens.get(audience)
        if cached is None or cached[0] < now:
            claims = {"aud": audience, "exp": int(now) + VAPID_TOKEN_TTL_SECS, "sub": self.subject}
            cached = (now + VAPID_TOKEN_REUSE_SECS, jwt.encode(claims, self.private_key, algorithm="ES256"))
            self._tokens[audience] = cached
        return f"vapid t={cached[1]}, k={self.public_key}"
