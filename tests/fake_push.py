"""A stand-in for a browser push service (FCM, Mozilla's autopush…): the one external service the
tests cannot reach, like Gemini. Real HTTPS on 127.0.0.1 with a self-signed certificate, in a
thread, so both in-process apps and `callcenter serve` subprocesses can POST to it.

It holds the browser's side of each subscription it hands out (the P-256 key and auth secret), so
it decrypts what it receives with `http_ece` (an implementation independent of ours) and checks
the VAPID header the way a push service does: the JWT's signature against the `k` key, its
audience, expiry and subject.

    with FakePushService() as fake:
        env = fake.env()                 # CALLCENTER_PUSH_SERVICE_HOSTS / _CA_FILE for a server
        sub = fake.new_subscription()    # what pushManager.subscribe() would give a browser
        ... the server pushes ...
        [push] = fake.wait_for(1)        # push.payload (decrypted JSON), push.headers, push.endpoint_id
        fake.respond(sub, 410)           # answers for that endpoint from now on (410: unsubscribed)
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import os
import secrets
import ssl
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import http_ece
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import ipaddress


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost (it is its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake push service")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "push-cert.pem", directory / "push-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class ReceivedPush:
    endpoint_id: str
    headers: dict[str, str]
    payload: dict | None  # None when it could not be decrypted (error says why)
    vapid_claims: dict | None
    error: str | None
    status: int  # what the fake answered


def trusting(config, fake: "FakePushService"):
    """`config` (a callcenter Config) sending pushes to `fake` only, and trusting its certificate."""
    return dataclasses.replace(config, push_service_hosts=("127.0.0.1",), push_ca_file=str(fake.cert_file))


class FakePushService:
    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="cc-push-")
        self.cert_file, key_file = self_signed_cert(Path(self._dir.name))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, key_file)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                fake._on_post(self)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.origin = f"https://127.0.0.1:{self.port}"
        self._keys: dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]] = {}
        self._answers: dict[str, deque[int]] = {}  # endpoint id -> statuses to answer, the last one sticks
        self.received: list[ReceivedPush] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-push", daemon=True)

    def __enter__(self) -> "FakePushService":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def env(self) -> dict[str, str]:
        """Settings that make a callcenter server trust and accept this push service."""
        return {"CALLCENTER_PUSH_SERVICE_HOSTS": "127.0.0.1", "CALLCENTER_PUSH_CA_FILE": str(self.cert_file)}

    def new_subscription(self) -> dict:
        """A subscription as `PushSubscription.toJSON()` gives it (the fake keeps the private half)."""
        endpoint_id = secrets.token_urlsafe(12)
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        self._keys[endpoint_id] = (key, auth)
        public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": f"{self.origin}/push/{endpoint_id}", "expirationTime": None,
                "keys": {"p256dh": _b64url(public), "auth": _b64url(auth)}}

    def respond(self, subscription: dict, *statuses: int) -> None:
        """Answer pushes to this subscription with these statuses in turn (the last one from then on)."""
        self._answers[subscription["endpoint"].rsplit("/", 1)[1]] = deque(statuses)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedPush]:
        """The first `count` pushes received (waiting for them); AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(self.received)} pushes received, expected {count}")
                self._cond.wait(left)
            return list(self.received[:count])

    def _answer_for(self, endpoint_id: str) -> int:
        queue = self._answers.get(endpoint_id)
        if not queue:
            return 201 if endpoint_id in self._keys else 404
        return queue.popleft() if len(queue) > 1 else queue[0]

    def _on_post(self, request: BaseHTTPRequestHandler) -> None:
        endpoint_id = request.path.rsplit("/", 1)[-1]
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in request.headers.items()}
        payload = claims = error = None
        try:
            claims = self._check_vapid(headers.get("authorization", ""))
            key, auth = self._keys[endpoint_id]
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding {headers.get('content-encoding')!r}")
            payload = json.loads(http_ece.decrypt(body, private_key=key, auth_secret=auth, version="aes128gcm"))
        except Exception as exc:  # noqa: BLE001 - recorded for the test to assert on
            error = f"{type(exc).__name__}: {exc}"
        status = self._answer_for(endpoint_id) if error is None else 400
        request.send_response(status)
        request.send_header("Content-Length", "0")
        request.end_headers()
        with self._cond:
            self.received.append(ReceivedPush(endpoint_id, headers, payload, claims, error, status))
            self._cond.notify_all()

    def _check_vapid(self, header: str) -> dict:
        fields = dict(part.strip().split("=", 1) for part in header.removeprefix("vapid ").split(","))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _b64url_decode(fields["k"]))
        claims = jwt.decode(fields["t"], public, algorithms=["ES256"], audience=self.origin)
        if not 0 < claims["exp"] - time.time() <= 24 * 3600:
            raise ValueError("VAPID token expiry is not within 24 h")
        if not claims.get("sub", "").startswith(("mailto:", "https://")):
            raise ValueError("VAPID subject is not a mailto: or https: URL")
        return claims
