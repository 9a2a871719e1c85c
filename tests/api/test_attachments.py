"""File attachments: upload to a session, send with a message, download with the same token; only
kinds a browser cannot run, recognised by their bytes; limits, quotas and tenant/session scoping.
Every test runs on the embedded default and on MariaDB + Redis."""
from __future__ import annotations

import asyncio
import json
import struct
import uuid
import zlib
from urllib.parse import urlsplit

import pytest

from callcenter.attachments import clean_filename, content_disposition, form_filename, sniff, UnsupportedFileType
from callcenter.errors import InvalidInput

from ..wsclient import WsClient
from ._support import (AGENT_MESSAGE, PUBLIC_MESSAGE, all_messages, assert_error, gen_test, get_session,
                       public_session, session_path)


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def multipart(files: list[tuple[str, str, bytes]], boundary: str = "ccboundary42") -> tuple[bytes, dict]:
    """A multipart/form-data body of (field, filename, bytes) parts and its Content-Type header."""
    out = b""
    for field, filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def visitor_files(sid: str) -> str:
    return public_session(sid) + "/attachments"


async def upload(api, path: str, token: str, filename: str, data: bytes, *, field: str = "file", headers=None):
    body, hdrs = multipart([(field, filename, data)])
    return await api.request("POST", path, raw=body, token=token, headers={**hdrs, **(headers or {})})


async def uploaded(api, path: str, token: str, filename: str, data: bytes) -> dict:
    resp = await upload(api, path, token, filename, data)
    assert resp.status == 201, resp.body
    return resp.json["attachment"]


async def attachment_count(services, session_id: str) -> int:
    import sqlalchemy as sa
    from callcenter.store import attachments

    async with services.store.engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(attachments).where(
            attachments.c.session_id == session_id))).scalar_one()


# ---- the whole flow ------------------------------------------------------------------

@gen_test
async def test_visitor_sends_an_image_and_the_agent_downloads_it(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    png = tiny_png()
    meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, "screenshot.png", png)
    assert meta["name"] == "screenshot.png" and meta["size"] == len(png)
    assert (meta["content_type"], meta["kind"]) == ("image/png", "image")
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "message": "",
                                           "attachment_ids": [meta["id"]], "client_msg_id": "img-1"},
                          token=visitor.token)
    assert resp.status == 201, resp.body
    message = resp.json["message"]
    assert message["body"] == "" and message["attachments"] == [meta]
    # A retry with the same client_msg_id is the same message.
    again = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "attachment_ids": [meta["id"]],
                                            "client_msg_id": "img-1"}, token=visitor.token)
    assert again.status == 200 and again.json["message"]["id"] == message["id"]

    [stored] = await all_messages(api, tenant.agent, visitor.session_id)
    assert stored["attachments"] == [meta]
    session = await get_session(api, tenant.agent, visitor.session_id)
    assert session["last_message_preview"] == "📎 screenshot.png"

    metrics = (await api.get("/metrics")).body.decode()
    assert 'callcenter_attachments_stored_total{kind="image"}' in metrics

    for path, token in ((session_path(visitor.session_id, f"attachments/{meta['id']}"), tenant.agent.token),
                        (visitor_files(visitor.session_id) + f"/{meta['id']}", visitor.token)):
        got = await api.get(path, token=token)
        assert got.status == 200 and got.body == png
        assert got.headers["Content-Type"] == "image/png"
        assert got.headers["Content-Disposition"].startswith("inline;")
        assert got.headers["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in got.headers["Content-Security-Policy"]
        assert got.headers["Cache-Control"].startswith("private")


@gen_test
async def test_agent_sends_text_and_files_that_download_as_files(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    upload_path = session_path(visitor.session_id, "attachments")
    pdf = await uploaded(api, upload_path, tenant.agent.token, "invoice 12.pdf", PDF)
    text = await uploaded(api, upload_path, tenant.agent.token, "steps.txt", "1. Reboot\n2. Café\n".encode())
    assert (pdf["content_type"], pdf["kind"]) == ("application/pdf", "file")
    assert text["content_type"] == "text/plain"
    resp = await api.post(AGENT_MESSAGE, {"session_id": visitor.session_id, "message": "Here you go",
                                          "attachment_ids": [text["id"], pdf["id"]]}, token=tenant.agent.token)
    assert resp.status == 201, resp.body
    assert [a["id"] for a in resp.json["message"]["attachments"]] == [text["id"], pdf["id"]]  # the order given
    history = await api.get(public_session(visitor.session_id), token=visitor.token)
    assert history.json["messages"][-1]["attachments"] == [text, pdf]
    got = await api.get(visitor_files(visitor.session_id) + f"/{pdf['id']}", token=visitor.token)
    assert got.status == 200 and got.body == PDF
    assert got.headers["Content-Disposition"] == ("attachment; filename=\"invoice 12.pdf\"; "
                                                  "filename*=UTF-8''invoice%2012.pdf")
    got = await api.get(visitor_files(visitor.session_id) + f"/{text['id']}", token=visitor.token)
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"


@gen_test
async def test_a_websocket_send_carries_files_to_the_agents(api, base_url, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    agent_ws = await WsClient.connect(base_url, tenant.agent.token)
    visitor_ws = await WsClient.connect(base_url, visitor.token)
    try:
        meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, "a.png", tiny_png())
        await visitor_ws.send("chat.message.send", message="look", client_msg_id="ws-1", attachment_ids=[meta["id"]])
        ack = await visitor_ws.next("chat.message.ack")
        assert ack["data"]["client_msg_id"] == "ws-1"
        new = await agent_ws.next("chat.message.new")
        assert new["data"]["message"]["attachments"] == [meta]
        assert new["data"]["message"]["body"] == "look"
    finally:
        agent_ws.close()
        visitor_ws.close()


# ---- what is refused, and changes nothing -------------------------------------------

@pytest.mark.parametrize("filename, data, status, code", [
    ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", 415,
     "unsupported_file_type"),
    ("page.png", b"<html><script>alert(1)</script></html>", 415, "unsupported_file_type"),  # the bytes decide
    ("run.exe", b"MZ\x90\x00\x03", 415, "unsupported_file_type"),
    ("notes.txt", b"\x00\x01binary", 415, "unsupported_file_type"),
    ("latin1.txt", "café".encode("latin-1"), 415, "unsupported_file_type"),
    ("archive.rar", b"PK\x03\x04zip-but-not-named-so", 415, "unsupported_file_type"),
    ("empty.png", b"", 400, "empty_file"),
])
@gen_test
async def test_files_a_browser_could_run_or_that_are_not_what_they_say_are_refused(api, tenant_factory, services,
                                                                                   filename, data, status, code):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    resp = await upload(api, visitor_files(visitor.session_id), visitor.token, filename, data)
    assert_error(resp, status, code)
    assert await attachment_count(services, visitor.session_id) == 0


@gen_test
async def test_malformed_uploads_are_clear_400s(api, tenant_factory, services):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = visitor_files(visitor.session_id)
    assert_error(await upload(api, path, visitor.token, "a.png", tiny_png(), field="document"), 400, "missing_file")
    body, headers = multipart([("file", "a.png", tiny_png()), ("file", "b.png", tiny_png())])
    assert_error(await api.request("POST", path, raw=body, token=visitor.token, headers=headers), 400, "missing_file")
    assert_error(await api.request("POST", path, raw=tiny_png(), token=visitor.token,
                                   headers={"Content-Type": "image/png"}), 400, "unsupported_media_type")
    assert_error(await api.request("POST", path, raw=b"--x\r\ngarbage", token=visitor.token,
                                   headers={"Content-Type": "multipart/form-data; boundary=x"}), 400, "invalid_multipart")
    assert_error(await upload(api, path + "?token=" + visitor.token, None, "a.png", tiny_png()), 400, "token_in_url")
    assert_error(await upload(api, path, None, "a.png", tiny_png()), 401)
    assert await attachment_count(services, visitor.session_id) == 0


@gen_test
async def test_size_limit_and_per_conversation_quota(api, tenant_factory, services, config):
    config.max_upload_bytes = 2000
    config.upload_quota_files = 2
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = visitor_files(visitor.session_id)
    big = b"x" * 2001
    assert_error(await upload(api, path, visitor.token, "big.txt", big), 413, "file_too_large")
    # Far over the limit: refused from the Content-Length, before the body is read.
    assert_error(await upload(api, path, visitor.token, "huge.txt", b"y" * 100_000), 413, "file_too_large")
    for _ in range(2):
        await uploaded(api, path, visitor.token, "ok.txt", b"z" * 1500)
    assert_error(await upload(api, path, visitor.token, "one-more.txt", b"z" * 1500), 413, "attachment_quota_exceeded")
    assert await attachment_count(services, visitor.session_id) == 2
    # Another conversation has its own quota.
    other = await tenant.visitor(api)
    await uploaded(api, visitor_files(other.session_id), other.token, "ok.txt", b"z" * 1500)


@gen_test
async def test_uploads_are_rate_limited_per_uploader(api, tenant_factory, config):
    config.uploads_per_window = 2
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = visitor_files(visitor.session_id)
    for _ in range(2):
        await uploaded(api, path, visitor.token, "a.txt", b"hello")
    resp = await upload(api, path, visitor.token, "a.txt", b"hello")
    assert_error(resp, 429, "rate_limited")
    assert int(resp.headers["Retry-After"]) >= 1
    # The agent answering is not held up by the visitor's uploads.
    await uploaded(api, session_path(visitor.session_id, "attachments"), tenant.agent.token, "a.txt", b"hi")
    # New chats from the same address do not reset the count: five visitors' worth per address.
    for _ in range(4):  # 2 (above) + 4 × 2 = 10 = 5 × uploads_per_window
        other = await tenant.visitor(api)
        for _ in range(2):
            await uploaded(api, visitor_files(other.session_id), other.token, "a.txt", b"hello")
    last = await tenant.visitor(api)
    assert_error(await upload(api, visitor_files(last.session_id), last.token, "a.txt", b"hello"), 429,
                 "rate_limited")


@gen_test
async def test_a_worker_takes_a_bounded_number_of_uploads_at_once(api, tenant_factory, services, config):
    config.max_concurrent_uploads = 2
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    services.uploads_in_progress = 2  # two others are being read in
    resp = await upload(api, visitor_files(visitor.session_id), visitor.token, "a.txt", b"hello")
    assert_error(resp, 429, "rate_limited")
    assert resp.headers["Retry-After"] == "1"
    services.uploads_in_progress = 1
    await uploaded(api, visitor_files(visitor.session_id), visitor.token, "a.txt", b"hello")
    assert services.uploads_in_progress == 1  # its slot was given back
    assert await attachment_count(services, visitor.session_id) == 1

    # A client that goes away in the middle of its upload gives its slot back too.
    services.uploads_in_progress = 0
    url = urlsplit(api.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    body, headers = multipart([("file", "a.txt", b"x" * 5000)])
    writer.write((f"POST {visitor_files(visitor.session_id)} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                  f"Authorization: Bearer {visitor.token}\r\nContent-Type: {headers['Content-Type']}\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body[:1000])
    await writer.drain()
    for _ in range(200):
        if services.uploads_in_progress == 1:
            break
        await asyncio.sleep(0.01)
    assert services.uploads_in_progress == 1
    writer.close()
    for _ in range(200):
        if services.uploads_in_progress == 0:
            break
        await asyncio.sleep(0.01)
    assert services.uploads_in_progress == 0


@gen_test
async def test_message_bodies_with_files_are_validated(api, tenant_factory, services):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, "a.txt", b"hello")
    bad = [
        {"session_id": visitor.session_id, "message": ""},
        {"session_id": visitor.session_id, "message": "   "},
        {"session_id": visitor.session_id},
        {"session_id": visitor.session_id, "attachment_ids": []},
        {"session_id": visitor.session_id, "attachment_ids": [meta["id"], meta["id"]]},
        {"session_id": visitor.session_id, "attachment_ids": ["../../etc/passwd"]},
        {"session_id": visitor.session_id, "attachment_ids": [uuid.uuid4().hex for _ in range(11)]},
        {"session_id": visitor.session_id, "attachment_ids": meta["id"]},
    ]
    for body in bad:
        assert_error(await api.post(PUBLIC_MESSAGE, body, token=visitor.token), 400)
    assert await all_messages(api, tenant.agent, visitor.session_id) == []


@gen_test
async def test_an_unsent_file_can_be_removed_and_stops_counting(api, tenant_factory, services, config):
    config.max_upload_bytes, config.upload_quota_files = 1000, 1
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = visitor_files(visitor.session_id)
    first = await uploaded(api, path, visitor.token, "a.txt", b"a" * 1000)
    assert_error(await upload(api, path, visitor.token, "b.txt", b"b" * 10), 413, "attachment_quota_exceeded")
    # Removed before sending: gone, and the quota is free again.
    resp = await api.request("DELETE", f"{path}/{first['id']}", token=visitor.token)
    assert resp.status == 204, resp.body
    assert_error(await api.get(f"{path}/{first['id']}", token=visitor.token), 404, "attachment_not_found")
    assert_error(await api.request("DELETE", f"{path}/{first['id']}", token=visitor.token), 404,
                 "attachment_not_found")
    second = await uploaded(api, path, visitor.token, "b.txt", b"b" * 10)
    # The other side cannot remove it; once sent it stays with its message.
    agent_path = session_path(visitor.session_id, f"attachments/{second['id']}")
    assert_error(await api.request("DELETE", agent_path, token=tenant.agent.token), 404, "attachment_not_found")
    await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "attachment_ids": [second["id"]]},
                   token=visitor.token)
    assert_error(await api.request("DELETE", f"{path}/{second['id']}", token=visitor.token), 409, "attachment_sent")
    assert (await api.get(agent_path, token=tenant.agent.token)).body == b"b" * 10
    assert await attachment_count(services, visitor.session_id) == 1
    # Agents remove their own unsent files the same way.
    mine = await uploaded(api, session_path(visitor.session_id, "attachments"), tenant.agent.token, "c.txt", b"c")
    resp = await api.request("DELETE", session_path(visitor.session_id, f"attachments/{mine['id']}"),
                             token=tenant.agent.token)
    assert resp.status == 204, resp.body


@gen_test
async def test_files_never_sent_are_purged_after_a_while(api, tenant_factory, services):
    from callcenter.store import attachments, now_ms

    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    path = visitor_files(visitor.session_id)
    sent = await uploaded(api, path, visitor.token, "sent.txt", b"sent")
    left = await uploaded(api, path, visitor.token, "left.txt", b"left behind")
    recent = await uploaded(api, path, visitor.token, "recent.txt", b"still being written about")
    await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "attachment_ids": [sent["id"]]},
                   token=visitor.token)
    async with services.store.engine.begin() as conn:  # two of them uploaded two days ago
        await conn.execute(attachments.update().where(attachments.c.id.in_([sent["id"], left["id"]]))
                           .values(created_at_ms=attachments.c.created_at_ms - 2 * 86_400_000))
    cutoff = now_ms() - services.config.unsent_upload_ttl_secs * 1000
    assert await services.store.purge_unsent_attachments(cutoff) >= 1
    assert_error(await api.get(f"{path}/{left['id']}", token=visitor.token), 404, "attachment_not_found")
    for kept in (sent, recent):
        assert (await api.get(f"{path}/{kept['id']}", token=visitor.token)).status == 200
    # A send that names the purged file is refused like any unknown one.
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "attachment_ids": [left["id"]]},
                          token=visitor.token)
    assert_error(resp, 400, "attachment_not_found")


# ---- scoping: a file belongs to one conversation of one tenant --------------------------

@gen_test
async def test_files_are_scoped_to_their_session_and_tenant(api, tenant_factory):
    tenant, other_tenant = await tenant_factory(), await tenant_factory()
    visitor, other_visitor = await tenant.visitor(api), await tenant.visitor(api)
    meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, "mine.png", tiny_png())
    agent_meta = await uploaded(api, session_path(visitor.session_id, "attachments"), tenant.agent.token,
                                "agent.pdf", PDF)

    # Another visitor of the same tenant: not through their own session, not through this one.
    assert_error(await api.get(visitor_files(other_visitor.session_id) + f"/{meta['id']}",
                               token=other_visitor.token), 404, "attachment_not_found")
    assert_error(await api.get(visitor_files(visitor.session_id) + f"/{meta['id']}", token=other_visitor.token),
                 404, "session_not_found")
    assert_error(await upload(api, visitor_files(visitor.session_id), other_visitor.token, "x.png", tiny_png()),
                 404, "session_not_found")
    # Nor can they send it in their own conversation.
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": other_visitor.session_id, "attachment_ids": [meta["id"]]},
                          token=other_visitor.token)
    assert_error(resp, 400, "attachment_not_found")
    # The visitor cannot send the agent's upload as their own.
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "attachment_ids": [agent_meta["id"]]},
                          token=visitor.token)
    assert_error(resp, 400, "attachment_not_found")

    # An agent of another tenant sees nothing and can upload nothing.
    stranger = other_tenant.agent.token
    assert_error(await api.get(session_path(visitor.session_id, f"attachments/{meta['id']}"), token=stranger),
                 404, "attachment_not_found")
    assert_error(await upload(api, session_path(visitor.session_id, "attachments"), stranger, "x.png", tiny_png()),
                 404, "session_not_found")
    other_visitor_session = (await other_tenant.visitor(api)).session_id
    resp = await api.post(AGENT_MESSAGE, {"session_id": other_visitor_session, "attachment_ids": [meta["id"]]},
                          token=stranger)
    assert_error(resp, 400, "attachment_not_found")
    # The file of one session cannot be fetched through another session's path, even in the tenant.
    assert_error(await api.get(session_path(other_visitor.session_id, f"attachments/{meta['id']}"),
                               token=tenant.agent.token), 404, "attachment_not_found")
    assert await all_messages(api, tenant.agent, visitor.session_id) == []
    assert await all_messages(api, tenant.agent, other_visitor.session_id) == []


@gen_test
async def test_hostile_file_names_are_kept_as_data(api, tenant_factory):
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    name = '<img src=x onerror="alert(1)">\u202e.png'
    meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, name, tiny_png())
    assert meta["name"] == '<img src=x onerror="alert(1)">.png'  # the bidi override is gone, the rest is text
    resp = await api.post(PUBLIC_MESSAGE, {"session_id": visitor.session_id, "attachment_ids": [meta["id"]]},
                          token=visitor.token)
    raw = resp.body.decode()
    assert json.loads(raw)["message"]["attachments"][0]["name"] == meta["name"]
    got = await api.get(session_path(visitor.session_id, f"attachments/{meta['id']}"), token=tenant.agent.token)
    disposition = got.headers["Content-Disposition"]
    assert "\n" not in disposition and disposition.count('"') == 2


@gen_test
async def test_a_browsers_escaped_quote_in_a_file_name_is_a_quote(api, tenant_factory):
    # Browsers send '"' in a multipart filename as %22 (and line breaks as %0A / %0D).
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, 'the %22best%22%0A offer.txt', b"hi")
    assert meta["name"] == 'the "best" offer.txt'
    got = await api.get(session_path(visitor.session_id, f"attachments/{meta['id']}"), token=tenant.agent.token)
    assert got.headers["Content-Disposition"].endswith("filename*=UTF-8''the%20%22best%22%20offer.txt")


# ---- the pure parts ---------------------------------------------------------------------


def test_form_filename_undoes_only_the_form_encodings_escapes():
    assert form_filename("a%22b%22.txt") == 'a"b".txt'
    assert form_filename("x%0Ay%0dz") == "x\ny\rz"
    assert form_filename("100%25 sure %20.txt") == "100%25 sure %20.txt"
    assert form_filename(None) == form_filename("") == ""

def test_file_names_are_cleaned():
    assert clean_filename("C:\\Users\\me\\Desktop\\report.pdf") == "report.pdf"
    assert clean_filename("../../etc/passwd") == "passwd"
    assert clean_filename("a\x00b\x1f\u200bc.txt") == "abc.txt"
    assert clean_filename("") == clean_filename(None) == clean_filename("...") == "file"
    long = clean_filename("x" * 500 + ".jpeg")
    assert len(long) == 200 and long.endswith(".jpeg")


def test_sniffing_goes_by_the_bytes():
    assert sniff("photo", tiny_png()) == ("image/png", "image")
    assert sniff("whatever.txt", b"\xff\xd8\xff\xe0rest") == ("image/jpeg", "image")
    assert sniff("anim.gif", b"GIF89a....") == ("image/gif", "image")
    assert sniff("p.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ") == ("image/webp", "image")
    assert sniff("doc.DOCX", b"PK\x03\x04rest")[1] == "file"
    assert sniff("data.csv", b"a,b\n1,2\n") == ("text/csv", "file")
    with pytest.raises(UnsupportedFileType):
        sniff("a.html", b"<!doctype html>")
    with pytest.raises(InvalidInput):
        sniff("a.txt", b"")


def test_content_disposition_is_one_safe_header_line():
    value = content_disposition("file", 'na"me\\ü.pdf')
    assert value == "attachment; filename=\"name.pdf\"; filename*=UTF-8''na%22me%5C%C3%BC.pdf"
    assert content_disposition("image", "a.png").startswith("inline;")


@pytest.mark.mysql_only
@gen_test
async def test_a_file_of_the_full_limit_is_stored_on_mysql(api, tenant_factory, services, backend):
    """The largest file the limit allows fits through one INSERT (bytes travel base64-encoded), and the
    limit was fitted under the server's max_allowed_packet at start."""
    largest = await services.store.largest_file_bytes()
    assert services.config.max_upload_bytes <= largest
    tenant = await tenant_factory()
    visitor = await tenant.visitor(api)
    data = b"%PDF-" + bytes(range(256)) * (services.config.max_upload_bytes // 256 - 1)
    meta = await uploaded(api, visitor_files(visitor.session_id), visitor.token, "big.pdf", data)
    got = await api.get(visitor_files(visitor.session_id) + f"/{meta['id']}", token=visitor.token)
    assert got.status == 200 and got.body == data
