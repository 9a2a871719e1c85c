"""A fake Gemini server: the only fake service of the suite (see tests/mocking.py).

It speaks the REST routes the google-genai SDK calls, reached through the real
SDK with `CALLCENTER_GEMINI_BASE_URL=<fake.url>`:

- `POST /{version}/models/{model}:generateContent` → one JSON GenerateContentResponse
- `POST /{version}/models/{model}:streamGenerateContent?alt=sse` → the same, as server-sent
  events (`data: {...}` chunks, the text split over several chunks)

It runs on a thread of its own (a ThreadingHTTPServer), so in-process tests, `callcenter serve` /
`callcenter ai-worker` subprocesses and benchmarks can all reach it. Every request is recorded
(path, JSON body, headers, arrival time). What it answers is scripted:

    fake.reply = "Hello!"                 # default answer (or a callable: request body -> text)
    fake.script(429, "after retry")       # next calls, in order: an int is an HTTP error status,
                                          # HANG holds the call until release(), str is reply text
    fake.release()                        # lets every held call go (answered with fake.reply)
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

HANG = "__hang__"
ROUTE = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


@dataclass
class Recorded:
    path: str
    method: str
    model: str
    body: dict
    headers: dict
    received_at: float  # time.time() when the request line arrived
    answered_at: float | None = None  # time.time() when the last byte of the answer was written

    @property
    def system_text(self) -> str:
        parts = (self.body.get("systemInstruction") or self.body.get("system_instruction") or {}).get("parts", [])
        return "".join(p.get("text", "") for p in parts)

    @property
    def contents(self) -> list[dict]:
        return self.body.get("contents", [])

    def texts(self, role: str) -> list[str]:
        return ["".join(p.get("text", "") for p in c.get("parts", [])) for c in self.contents if c.get("role") == role]


@dataclass
class FakeGemini:
    reply: str | Callable[[dict], str] = "Hello from the fake model."
    chunks: int = 3
    requests: list[Recorded] = field(default_factory=list)
    _script: list = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _release: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    port: int = 0

    # ---- control ---------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *steps) -> None:
        """The next calls' answers, in order (then back to `reply`)."""
        with self._lock:
            self._script.extend(steps)

    def release(self) -> None:
        self._release.set()

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
        self._release.clear()

    def wait_requests(self, count: int, timeout: float = 15.0) -> list[Recorded]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the fake model got {len(self.requests)} requests, expected {count}")
            time.sleep(0.01)
        return list(self.requests)

    def _next_step(self, body: dict):
        with self._lock:
            if self._script:
                return self._script.pop(0)
        return self.reply(body) if callable(self.reply) else self.reply

    # ---- lifecycle ---------------------------------------------------------------

    def start(self) -> "FakeGemini":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stall

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                received = time.time()
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                match = ROUTE.match(path)
                if not match:
                    return self._send_json(404, {"error": {"code": 404, "message": f"no route {path}",
                                                           "status": "NOT_FOUND"}})
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    return self._send_json(400, {"error": {"code": 400, "message": "bad json",
                                                           "status": "INVALID_ARGUMENT"}})
                rec = Recorded(path + (f"?{query}" if query else ""), match["method"], match["model"], body,
                               {k.lower(): v for k, v in self.headers.items()}, received)
                with fake._lock:
                    fake.requests.append(rec)
                try:
                    self._answer(rec, match["method"], fake._next_step(body), body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

            def _answer(self, rec: Recorded, method: str, step, body: dict) -> None:
                if step == HANG:
                    fake._release.wait(120)
                    step = fake.reply(body) if callable(fake.reply) else fake.reply
                if isinstance(step, int):
                    status = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(step, "ERROR")
                    self._send_json(step, {"error": {"code": step, "message": "scripted failure", "status": status}})
                elif method == "streamGenerateContent":
                    self._send_stream(str(step), body)
                else:
                    self._send_json(200, _response(str(step), body, final=True))
                rec.answered_at = time.time()

            def _send_json(self, status: int, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()

            def _send_stream(self, text: str, body: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = _split(text, fake.chunks)
                for i, piece in enumerate(pieces):
                    event = f"data: {json.dumps(_response(piece, body, final=i == len(pieces) - 1))}\r\n\r\n".encode()
                    self.wfile.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gemini", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _split(text: str, n: int) -> list[str]:
    if n <= 1 or len(text) < n:
        return [text]
    size = -(-len(text) // n)
    return [text[i:i + size] for i in range(0, len(text), size)]


def _response(text: str, body: dict, *, final: bool) -> dict:
    prompt_tokens = max(1, len(json.dumps(body.get("contents", []))) // 4)
    out_tokens = max(1, len(text) // 4)
    resp = {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}],
            "modelVersion": "fake-gemini"}
    if final:
        resp["candidates"][0]["finishReason"] = "STOP"
        resp["usageMetadata"] = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": out_tokens,
                                 "totalTokenCount": prompt_tokens + out_tokens}
    return resp
