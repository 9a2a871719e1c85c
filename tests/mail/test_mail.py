"""E-mail to visitors who left, against a real SMTP server (aiosmtpd): one e-mail per burst of replies,
none while the widget is connected or after an unsubscribe, delivery after an SMTP outage without a
duplicate, header injection neutralised, transcripts without private notes, the resume link's token."""
from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import unquote, urlsplit

import jwt

from callcenter.mail import RESUME_TOKEN_TYPE
from callcenter.store import tenants as tenants_table
from tests.api._support import assert_error, agent_says, gen_test, public_session, session_path, visitor_says
from tests.helpers import Visitor
from tests.wsclient import WsClient

from .conftest import BATCH_SECS, OFFLINE_DELAY_SECS
from .support import link_in, wait_for

# Long enough for an e-mail to have been sent had one been due (the sweep runs every ~0.25 s here; a visitor
# seen online puts the batch off by OFFLINE_DELAY_SECS, so it is looked at again within this time).
QUIET_SECS = max(BATCH_SECS, OFFLINE_DELAY_SECS) + 1.0


def an_address() -> str:
    return f"visitor-{uuid.uuid4().hex[:10]}@example.com"


async def visitor_of(api, tenant, address: str, name: str = "Vera Visitor", page_url: str = "") -> Visitor:
    body = {"tenant_id": tenant.id, "channel": "web", "customer_name": name, "customer_email": address}
    if page_url:
        body["page_url"] = page_url
    resp = await api.post("/api/v1/chat/public/start", body)
    assert resp.status == 201, resp.body
    return Visitor(resp.json["session_id"], resp.json["token"], tenant.id)


async def one_mail_to(smtp_sink, address: str, timeout: float = 20.0):
    """The e-mail `address` got, after checking that no second one follows."""
    await wait_for(lambda: smtp_sink.to(address), timeout, f"an e-mail to {address}")
    await asyncio.sleep(QUIET_SECS)
    got = smtp_sink.to(address)
    assert len(got) == 1, [r.message["Subject"] for r in got]
    return got[0]


@gen_test
async def test_an_offline_visitor_gets_one_email_for_a_burst_of_replies(api, tenant_factory, smtp_sink, services):
    tenant = await tenant_factory()
    address = an_address()
    visitor = await visitor_of(api, tenant, address, page_url="https://shop.example/cart?x=1")
    await visitor_says(api, visitor, "Is my order shipped?")
    replies = ["It left this morning.", "Tracking: <b>ZX-81</b> & more", "Anything else?"]
    for text in replies:
        await agent_says(api, tenant.agent, visitor.session_id, text)

    got = await one_mail_to(smtp_sink, address)
    msg = got.message
    assert got.rcpt_tos == [address] and got.mail_from == "support@callcenter.test"
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == f"New replies from Tenant {tenant.id}"
    assert msg["To"].addresses[0].addr_spec == address
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Unsubscribe"].startswith("<http://localhost:") and "/unsubscribe?token=" in msg["List-Unsubscribe"]
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@callcenter.test>")
    text, markup = got.part("plain"), got.part("html")
    for reply in replies:
        assert reply in text
    assert "Is my order shipped?" not in text  # the visitor's own words are not sent back
    assert "Tracking: &lt;b&gt;ZX-81&lt;/b&gt; &amp; more" in markup and "<b>ZX-81" not in markup
    resume = link_in(text, "#cc_resume=")
    assert resume.startswith("https://shop.example/cart?x=1#cc_resume=")

    # The next reply is a new batch: one more e-mail, with that reply only.
    await agent_says(api, tenant.agent, visitor.session_id, "Your parcel arrives Friday.")
    await wait_for(lambda: len(smtp_sink.to(address)) == 2, 20, "the second e-mail")
    second = smtp_sink.to(address)[1]
    assert "Your parcel arrives Friday." in second.part("plain") and "It left this morning." not in second.part("plain")
    assert second.message["Subject"] == f"New reply from Tenant {tenant.id}"
    assert second.message["Message-ID"] != msg["Message-ID"]
    rows = await services.store.list_mail(tenant.id, visitor.session_id)
    assert [(r["kind"], r["sent_at_ms"] is not None) for r in rows] == [("reply", True), ("reply", True)]


@gen_test
async def test_no_email_while_the_widget_is_connected_nor_for_replies_read(api, base_url, tenant_factory, smtp_sink):
    tenant = await tenant_factory()
    address = an_address()
    visitor = await visitor_of(api, tenant, address)
    await visitor_says(api, visitor, "hello")
    socket = await WsClient.connect(base_url, visitor.token)
    try:
        reply = await agent_says(api, tenant.agent, visitor.session_id, "Seen live, not e-mailed")
        await asyncio.sleep(QUIET_SECS + 1)
        assert smtp_sink.to(address) == []
    finally:
        socket.close()
    # Gone without reading it: e-mailed once the widget has been away for the offline delay.
    await wait_for(lambda: smtp_sink.to(address), 20, "the e-mail after the visitor left")
    assert "Seen live, not e-mailed" in smtp_sink.to(address)[0].part("plain")

    # A reply the visitor reads (elsewhere, e.g. the widget in another tab) before its e-mail is due is not sent.
    other = an_address()
    reader = await visitor_of(api, tenant, other)
    reply = await agent_says(api, tenant.agent, reader.session_id, "Read in time")
    resp = await api.post(public_session(reader.session_id) + "/read", {"seq": reply["seq"]}, token=reader.token)
    assert resp.status == 200, resp.body
    await asyncio.sleep(QUIET_SECS)
    assert smtp_sink.to(other) == []


@gen_test
async def test_unsubscribe_stops_email_for_that_tenant_and_address_only(api, tenant_factory, smtp_sink):
    a, b = await tenant_factory(), await tenant_factory()
    address = an_address()
    first = await visitor_of(api, a, address)
    await agent_says(api, a.agent, first.session_id, "First answer")
    got = (await wait_for(lambda: smtp_sink.to(address), 20, "the first e-mail"))[0]
    link = got.message["List-Unsubscribe"].strip("<>")
    assert link_in(got.part("plain"), "/unsubscribe") == link
    path = link[len("http://localhost:") + link[len("http://localhost:"):].index("/"):]

    page = await api.get(path)
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in page.headers["Content-Security-Policy"]
    assert b'<form method="post" action="/unsubscribe">' in page.body and address.encode() in page.body
    # A mail client's one-click unsubscribe (RFC 8058): a POST to the very link.
    done = await api.request("POST", path, raw=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status == 200 and b"gets no more e-mail" in done.body

    again = await visitor_of(api, a, address.upper())  # the same address, written otherwise
    await agent_says(api, a.agent, again.session_id, "Second answer")
    elsewhere = await visitor_of(api, b, address)
    await agent_says(api, b.agent, elsewhere.session_id, "Answer from another tenant")
    await wait_for(lambda: len(smtp_sink.to(address)) == 2, 20, "tenant B's e-mail")
    await asyncio.sleep(QUIET_SECS)
    texts = [r.part("plain") for r in smtp_sink.to(address)]
    assert len(texts) == 2 and "Answer from another tenant" in texts[1]
    assert not any("Second answer" in t for t in texts)

    # The JSON route does the same (tenant B now), and its one-click form with the token in the query.
    token = unquote(path.split("token=", 1)[1])
    token_b = a.services.mail.tokens.unsubscribe(b.id, address)
    resp = await api.post("/api/v1/mail/unsubscribe", {"token": token_b})
    assert resp.status == 200 and resp.json == {"unsubscribed": True}
    assert await a.services.store.mail_unsubscribed(b.id, address)
    resp = await api.request("POST", f"/api/v1/mail/unsubscribe?token={token}", raw=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 200, resp.body
    assert_error(await api.request("POST", f"/api/v1/mail/unsubscribe?token={token}", raw=b"x=y",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"}), 400, "invalid_input")
    for bad in ("nonsense", token[:-4] + "AAAA", first.token):
        assert_error(await api.post("/api/v1/mail/unsubscribe", {"token": bad}), 400, "invalid_token")
        assert_error(await api.get(f"/unsubscribe?token={bad}"), 400, "invalid_token")


@gen_test(timeout=90)
async def test_an_smtp_outage_delays_and_then_delivers_once(api, tenant_factory, smtp_sink, services):
    tenant = await tenant_factory()
    address = an_address()
    visitor = await visitor_of(api, tenant, address)
    smtp_sink.stop()
    try:
        await agent_says(api, tenant.agent, visitor.session_id, "Written during the outage")
        await agent_says(api, tenant.agent, visitor.session_id, "And a second line")

        async def failed_twice():
            rows = await services.store.list_mail(tenant.id, visitor.session_id)
            return rows and rows[0]["attempts"] >= 2 and rows[0]["last_error"] and rows[0]["sent_at_ms"] is None

        await wait_for(failed_twice, 30, "two failed attempts")
    finally:
        smtp_sink.start()
    got = await one_mail_to(smtp_sink, address, timeout=30)
    assert "Written during the outage" in got.part("plain") and "And a second line" in got.part("plain")
    rows = await services.store.list_mail(tenant.id, visitor.session_id)
    assert len(rows) == 1 and rows[0]["sent_at_ms"] is not None and rows[0]["next_attempt_at_ms"] is None


@gen_test
async def test_header_injection_in_names_and_subjects_is_neutralised(api, tenant_factory, smtp_sink, services):
    tenant = await tenant_factory()
    hostile_tenant = "Evil Shop\r\nBcc: boss@evil.example\u2028X-Injected: yes"
    async with services.store.engine.begin() as conn:  # (the admin console cleans names: written here as is)
        await conn.execute(tenants_table.update().where(tenants_table.c.id == tenant.id).values(name=hostile_tenant))
    address = an_address()
    visitor = await visitor_of(api, tenant, address, name="Eve\r\nBcc: victim@evil.example\nSubject: pwned")
    await agent_says(api, tenant.agent, visitor.session_id, "Hi <img src=x onerror=alert(1)>\r\nBcc: x@evil.example")

    got = (await wait_for(lambda: smtp_sink.to(address), 20, "the e-mail"))[0]
    assert got.rcpt_tos == [address]
    msg = got.message
    head = got.raw.split(b"\r\n\r\n", 1)[0]
    for header in (b"\r\nBcc:", b"\r\nX-Injected:", b"\r\nSubject: pwned"):
        assert header not in head, head
    assert msg["Bcc"] is None and msg["X-Injected"] is None
    assert len(msg.get_all("Subject")) == 1 and "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"].startswith("New reply from Evil Shop")
    assert msg["To"].addresses[0].addr_spec == address and "\n" not in msg["To"].addresses[0].display_name
    assert msg["From"].addresses[0].addr_spec == "support@callcenter.test"
    assert "<img" not in got.part("html") and "&lt;img src=x onerror=alert(1)&gt;" in got.part("html")

    # An address with header syntax in it is refused where a visitor could give one.
    resp = await api.post(public_session(visitor.session_id) + "/transcript",
                          {"email": "v@example.com\r\nBcc: evil@example.com"}, token=visitor.token)
    assert_error(resp, 400)
    resp = await api.post("/api/v1/chat/public/start", {"tenant_id": tenant.id, "customer_email":
                                                        "v@example.com\nBcc: evil@example.com"})
    assert_error(resp, 400)


@gen_test
async def test_transcript_on_resolve_has_no_private_notes(api, tenant_factory, smtp_sink, services):
    tenant = await tenant_factory()
    address = an_address()
    visitor = await visitor_of(api, tenant, address)
    socket = await WsClient.connect(api.base_url, visitor.token)  # online: replies are not e-mailed on their own
    try:
        await visitor_says(api, visitor, "My invoice is wrong")
        await agent_says(api, tenant.agent, visitor.session_id, "Fixed it, sorry!")
        note = await api.post(session_path(visitor.session_id, "notes"), {"body": "SECRET-NOTE refund approved"},
                              token=tenant.agent.token)
        assert note.status == 201, note.body
        assert (await api.post(session_path(visitor.session_id, "resolve"), {}, token=tenant.agent.token)).status == 200
        resp = await api.post(public_session(visitor.session_id) + "/transcript", {}, token=visitor.token)
        assert resp.status == 202 and resp.json == {"queued": True}
        got = (await wait_for(lambda: smtp_sink.to(address), 20, "the transcript"))[0]
        msg = got.message
        assert msg["Subject"] == f"Your conversation with Tenant {tenant.id}"
        text, markup = got.part("plain"), got.part("html")
        for line in ("My invoice is wrong", "Fixed it, sorry!", "resolved the conversation"):
            assert line in text and line in markup
        assert "SECRET-NOTE" not in got.raw.decode("utf-8", "replace")
        # To another address on request; asking again with nothing new sends nothing more.
        other = an_address()
        assert (await api.post(public_session(visitor.session_id) + "/transcript", {"email": other},
                               token=visitor.token)).status == 202
        await wait_for(lambda: smtp_sink.to(other), 20, "the transcript to the other address")
        assert (await api.post(public_session(visitor.session_id) + "/transcript", {},
                               token=visitor.token)).status == 202
        await asyncio.sleep(1.0)
        assert len(smtp_sink.to(address)) == 1
    finally:
        socket.close()

    services.config.smtp_url = None  # e-mail off: refused, with its code
    assert_error(await api.post(public_session(visitor.session_id) + "/transcript", {}, token=visitor.token),
                 409, "mail_disabled")


@gen_test
async def test_a_transcript_s_links_never_follow_a_spoofed_host(api, tenant_factory, smtp_sink, services):
    """Without CALLCENTER_PUBLIC_URL the links point to the server's own address: a visitor who picks the
    recipient cannot also pick, through the Host header, where the tenant's e-mail sends its reader."""
    services.config.public_url = None
    tenant = await tenant_factory()
    address = an_address()
    visitor = await visitor_of(api, tenant, address)
    await visitor_says(api, visitor, "Send me this")
    resp = await api.post(public_session(visitor.session_id) + "/transcript", {}, token=visitor.token,
                          headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert resp.status == 202, resp.body
    got = (await wait_for(lambda: smtp_sink.to(address), 20, "the transcript"))[0]
    assert b"evil.example" not in got.raw
    assert f"http://{services.config.host}:{services.config.port}/unsubscribe?token=" in got.part("plain")


@gen_test
async def test_the_resume_token_reopens_the_conversation_and_nothing_else(api, tenant_factory, smtp_sink, services):
    tenant = await tenant_factory()
    address = an_address()
    visitor = await visitor_of(api, tenant, address)
    await agent_says(api, tenant.agent, visitor.session_id, "Come back any time")
    got = (await wait_for(lambda: smtp_sink.to(address), 20, "the e-mail"))[0]
    link = link_in(got.part("plain"), "#cc_resume=")
    # No page URL: the demo page of this server.
    assert link.startswith(services.config.public_url + "/widget-demo.html#cc_resume=")
    token = urlsplit(link).fragment.split("cc_resume=", 1)[1]

    resp = await api.post("/api/v1/chat/public/resume", {"token": token})
    assert resp.status == 200, resp.body
    assert resp.json["session_id"] == visitor.session_id and resp.json["tenant"]["id"] == tenant.id
    opened = await api.get(public_session(visitor.session_id), token=resp.json["token"])
    assert opened.status == 200 and opened.json["messages"][-1]["body"] == "Come back any time"

    secret = services.config.secret_key
    now = int(time.time())
    claims = {"typ": RESUME_TOKEN_TYPE, "sid": visitor.session_id, "tid": tenant.id, "vid": 1}
    expired = jwt.encode({**claims, "iat": now - 8 * 86400, "exp": now - 86400}, secret, algorithm="HS256")
    forged = jwt.encode({**claims, "iat": now, "exp": now + 600}, "not-the-key" * 4, algorithm="HS256")
    unsubscribe = services.mail.tokens.unsubscribe(tenant.id, address)
    for bad in (expired, forged, visitor.token, tenant.agent.token, unsubscribe, "x"):
        assert_error(await api.post("/api/v1/chat/public/resume", {"token": bad}), 400, "invalid_token")
    # ... and the link's token is no visitor token.
    assert_error(await api.get(public_session(visitor.session_id), token=token), 401)


@gen_test
async def test_attacks_on_the_mail_routes(api, tenant_factory, smtp_sink):
    a, b = await tenant_factory(), await tenant_factory()
    va = await visitor_of(api, a, an_address())
    vb = await visitor_of(api, b, an_address())
    path = public_session(va.session_id) + "/transcript"
    # Another tenant's visitor (and no token at all) gets nothing of this session.
    assert_error(await api.post(path, {}, token=vb.token), 404, "session_not_found")
    assert_error(await api.post(path, {}), 401)
    # Parallel requests against the per-session limit: exactly the limit gets through.
    results = await asyncio.gather(*(api.post(path, {"email": an_address()}, token=va.token) for _ in range(12)))
    statuses = sorted(r.status for r in results)
    assert statuses.count(202) == 3 and statuses.count(429) == 9, statuses
    assert all(r.headers.get("Retry-After") for r in results if r.status == 429)
    # Oversized and malformed bodies.
    big = {"email": "a" * 70_000 + "@example.com"}
    assert_error(await api.post(public_session(vb.session_id) + "/transcript", big, token=vb.token), 413)
    assert_error(await api.post("/api/v1/chat/public/resume", {"token": "t" * 70_000}), 413)
    assert_error(await api.post("/api/v1/chat/public/resume", {"token": "t" * 2001}), 400)
    assert_error(await api.post("/api/v1/chat/public/resume", {"token": 5}), 400)
    assert_error(await api.post("/api/v1/mail/unsubscribe", {"token": "x", "extra": 1}), 400)
    assert_error(await api.post(public_session(vb.session_id) + "/transcript", {"email": "not an address"},
                                token=vb.token), 400)
