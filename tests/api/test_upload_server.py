"""Uploads against a real `callcenter serve` (its HTTP server limits bodies to 1 MB outside the upload
routes): a large upload that is refused still gets its JSON error, and a large one that is allowed
goes through."""
from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from tests.cluster import embedded_server

from .test_attachments import multipart


def _post(base: str, path: str, body: bytes, headers: dict) -> tuple[int, dict]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def test_large_uploads_get_their_answer(tmp_path):
    with embedded_server(tmp_path) as (base, _log):
        status, started = _post(base, "/api/v1/chat/public/start", json.dumps(
            {"tenant_id": "demo-tenant", "customer_name": "Big"}).encode(), {"Content-Type": "application/json"})
        assert status == 201, started
        path = f"/api/v1/chat/public/session/{started['session_id']}/attachments"
        body, headers = multipart([("file", "manual.pdf", b"%PDF-1.7\n" + b"x" * (3 * 1024 * 1024))])
        # Without a token: a 401 in the error shape, not a dropped connection.
        status, answer = _post(base, path, body, headers)
        assert status == 401 and answer["error"]["code"] == "missing_token", answer
        status, answer = _post(base, path, body, {**headers, "Authorization": "Bearer " + started["token"]})
        assert status == 201 and answer["attachment"]["size"] == 3 * 1024 * 1024 + 9, answer
