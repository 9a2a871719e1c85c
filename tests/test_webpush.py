"""The Web Push protocol pieces against their specifications: RFC 8291's own test vector for the
encryption, a VAPID header a push service can verify, and which endpoints are push services."""
from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from callcenter import webpush
from callcenter.webpush import b64url, b64url_decode


def _key(b64: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int.from_bytes(b64url_decode(b64), "big"), ec.SECP256R1())


def test_encryption_matches_rfc_8291_appendix_a():
    browser = _key("q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94")
    server = _key("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")
    p256dh = b64url(browser.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint))
    body = webpush.encrypt(b"When I grow up, I want to be a watermelon", p256dh, "BTBZMqHH6r4Tts7J_aSIgg",
                           salt=b64url_decode("DGv6ra1nlYgDCS1FRnbzlw"), sender_key=server)
    assert b64url(body) == (
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK"
        "6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN")
    with pytest.raises(ValueError):
        webpush.encrypt(b"x" * (webpush.MAX_PAYLOAD_BYTES + 1), p256dh, "BTBZMqHH6r4Tts7J_aSIgg")


def test_vapid_header_verifies_with_its_own_key():
    key = webpush.VapidKey.from_config(None, "the secret key", "mailto:ops@example.com")
    # Derived from the secret: every worker has the same key; another secret, another key.
    assert webpush.VapidKey.from_config(None, "the secret key", "x").public_key == key.public_key
    assert webpush.VapidKey.from_config(None, "another secret", "x").public_key != key.public_key
    header = key.authorization("https://fcm.googleapis.com/fcm/send/abc", now=1_800_000_000)
    token, k = (part.split("=", 1)[1] for part in header.removeprefix("vapid ").split(", "))
    assert k == key.public_key
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(k))
    claims = jwt.decode(token, public, algorithms=["ES256"], audience="https://fcm.googleapis.com",
                        options={"verify_exp": False})
    assert claims == {"aud": "https://fcm.googleapis.com", "exp": 1_800_000_000 + 12 * 3600,
                      "sub": "mailto:ops@example.com"}
    # A configured key wins.
    configured = webpush.VapidKey.from_config(b64url((7).to_bytes(32, "big")), "the secret key", "x")
    assert configured.public_key != key.public_key


@pytest.mark.parametrize("host, allowed", [
    ("fcm.googleapis.com", True), ("FCM.googleapis.com.", True), ("web.push.apple.com", True),
    ("wns2-par02p.notify.windows.com", True), ("push.apple.com", False), ("evil-fcm.googleapis.com", False),
    ("fcm.googleapis.com.evil.example", False), ("127.0.0.1", False), ("notify.windows.com.evil", False),
])
def test_known_push_services(host, allowed):
    from callcenter.config import DEFAULT_PUSH_SERVICE_HOSTS

    assert webpush.host_allowed(host, DEFAULT_PUSH_SERVICE_HOSTS) is allowed
