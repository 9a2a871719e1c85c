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
