"""A small WebSocket test client speaking the /ws frame protocol."""
from __future__ import annotations

import asyncio
import json

from tornado import httpclient, websocket


class WsClient:
    def __init__(self, conn: websocket.WebSocketClientConnection):
        self.conn = conn
        self.frames: list[dict] = []  # everything received, in order
        self._queue: asyncio.Queue = asyncio.Queue()
        self.close_code: int | None = None
        self._reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, base_url: str, token: str | None = None, *, resume: dict | None = None,
                      origin: str | None = None, expect_ok: bool = True) -> "WsClient":
        url = base_url.replace("http://", "ws://").replace("https://", "wss://") + "/ws"
        headers = {"Origin": origin} if origin else {}
        conn = await websocket.websocket_connect(httpclient.HTTPRequest(url, headers=headers))
        client = cls(conn)
        if token is not None:
            frame = {"type": "auth", "token": token}
            if resume is not None:
                frame["resume"] = resume
            await client.send_frame(frame)
            if expect_ok:
                ok = await client.next("auth.ok")
                client.auth = ok["data"]
        return client

    async def _read(self) -> None:
        while True:
            raw = await self.conn.read_message()
            if raw is None:
                self.close_code = self.conn.close_code
                await self._queue.put(None)
                return
            frame = json.loads(raw)
            self.frames.append(frame)
            await self._queue.put(frame)

    async def send_frame(self, frame: dict) -> None:
        await self.conn.write_message(json.dumps(frame))

    async def send(self, type_: str, **data) -> None:
        await self.send_frame({"type": type_, "data": data})

    async def next(self, *types: str, timeout: float = 5.0) -> dict:
        """The next frame of one of `types` (others are skipped but kept in .frames)."""
        async def wait():
            while True:
                frame = await self._queue.get()
                if frame is None:
                    raise ConnectionError(f"socket closed with code {self.close_code}")
                if not types or frame["type"] in types:
                    return frame
        return await asyncio.wait_for(wait(), timeout)

    async def closed(self, timeout: float = 5.0) -> int | None:
        async def wait():
            while (await self._queue.get()) is not None:
                pass
        await asyncio.wait_for(wait(), timeout)
        return self.close_code

    async def quiet(self, seconds: float = 0.3) -> list[dict]:
        """Frames arriving within `seconds` (to assert that nothing more comes)."""
        got = []
        try:
            while True:
                frame = await asyncio.wait_for(self._queue.get(), seconds)
                if frame is None:
                    break
                got.append(frame)
        except asyncio.TimeoutError:
            pass
        return got

    def messages(self, session_id: str | None = None) -> list[dict]:
        return [f["data"]["message"] for f in self.frames if f["type"] == "chat.message.new"
                and (session_id is None or f["data"]["session_id"] == session_id)]

    def close(self) -> None:
        self.conn.close()
        self._reader.cancel()


class ResumingClient:
    """Like a real widget or dashboard: on any disconnect it reconnects (through nginx) and resumes
    with the last seq it saw per session. Every chat.message.new it ever received is kept in order."""

    def __init__(self, base_url: str, token: str, *, track: list[str] | None = None):
        self.base_url = base_url
        self.token = token
        self.last_seq: dict[str, int] = {sid: 0 for sid in (track or [])}
        self.received: list[dict] = []
        self.workers: list[str] = []
        self.close_codes: list[int | None] = []
        self.client: WsClient | None = None
        self._task: asyncio.Task | None = None
        self._stop = False
        self.connected = asyncio.Event()

    async def start(self) -> "ResumingClient":
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def _run(self) -> None:
        while not self._stop:
            try:
                self.client = await WsClient.connect(self.base_url, self.token, resume=dict(self.last_seq))
            except (OSError, ConnectionError, asyncio.TimeoutError, httpclient.HTTPClientError):
                await asyncio.sleep(0.2)
                continue
            self.workers.append(self.client.auth["worker"])
            self.connected.set()
            while True:
                try:
                    frame = await self.client.next("chat.message.new", timeout=3600)
                except (ConnectionError, asyncio.TimeoutError):
                    break
                msg = frame["data"]["message"]
                self.received.append(msg)
                sid = msg["session_id"]
                self.last_seq[sid] = max(self.last_seq.get(sid, 0), msg["seq"])
            self.close_codes.append(self.client.close_code)
            self.connected.clear()
            await asyncio.sleep(0.1)

    def seqs(self, session_id: str) -> list[int]:
        return [m["seq"] for m in self.received if m["session_id"] == session_id]

    async def wait_for_seq(self, session_id: str, seq: int, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while self.last_seq.get(session_id, 0) < seq:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"saw up to seq {self.last_seq.get(session_id)} of {seq}; "
                                     f"reconnects: {self.close_codes}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._stop = True
        if self.client:
            self.client.close()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
