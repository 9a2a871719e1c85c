"""File attachments in chat-widget.js, in Chromium: the paperclip and its chips, uploads (XHR, visitor
token), thumbnails and file chips fetched with the token, refused files, an agent's files arriving live,
hostile file names, and attachments after a reload (from the cache, a resumed socket and the history).

One `callcenter serve` (embedded default, demo tenant) for the module, with a small upload limit
(CALLCENTER_MAX_UPLOAD_BYTES) so that the widget's own check, which reads the limit from the tenant info,
is exercised without multi-megabyte buffers. The visitor mostly uses /widget-demo.html (same origin as the
API); one test embeds the widget in a page on another origin (a tenant made with the CLI allows it), as
customers' sites do. The agent is the REST API with agent1's token.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import struct
import subprocess
import sys
import threading
import urllib.request
import uuid
import zlib
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import ARTIFACTS, screenshot
from tests.e2e.dashboard_support import HttpError, agent_token, call, start_widget_chat

UPLOAD_LIMIT = 256 * 1024
TIMEOUT = 15_000
TXT = b"order 1234\nsize 42\n"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HOSTILE_IMAGE = '<img src=x onerror="window.ccXss=1">.png'  # browsers send its '"' as %22: the server decodes it
HOSTILE_FILE = "<svg onload=window.ccXss=2>.txt"


def png(width: int, height: int, rgb: tuple[int, int, int] = (245, 158, 11)) -> bytes:
    """A valid RGB PNG of one colour."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def payload(name: str, data: bytes, mime: str = "application/octet-stream") -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("attachments")


@pytest.fixture(scope="module")
def server(home):
    with embedded_server(home, CALLCENTER_MAX_UPLOAD_BYTES=str(UPLOAD_LIMIT)) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def agent(server):
    return agent_token(server)


@pytest.fixture
def context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US", accept_downloads=True)
    yield context
    context.close()


HOST_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Host shop</title>
<link rel="icon" href="data:,"></head><body><h1>Host shop</h1>
<script src="{api}/chat-widget.js"></script>
<script>CallCenterChat.init({{tenantId: "{tenant}"}});</script>
</body></html>"""


@pytest.fixture(scope="module")
def host_site(home, server):
    """A host site on its own origin (a second local port) and a tenant that allows it, made with the CLI;
    yields (page URL, tenant id)."""
    tenant = "attachments-host"
    root = home / "site"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_DATA_DIR"] = str(home / "data")
    try:
        subprocess.run([sys.executable, "-m", "callcenter.cli", "create-tenant", tenant, "--allowed-origin", origin],
                       env=env, check=True, capture_output=True, timeout=60)
        (root / "shop.html").write_text(HOST_PAGE.format(api=server, tenant=tenant))
        yield origin + "/shop.html", tenant
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class Chat:
    """The widget on /widget-demo.html, seen from the page: its shadow root, requests and errors."""

    def __init__(self, page, server: str, tenant: str = "demo-tenant"):
        self.page = page
        self.server = server
        self.tenant = tenant
        self.key = json.dumps(f"callcenter-chat:{tenant}")
        self.requests: list[tuple[str, str, str | None]] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append((r.method, r.url, r.headers.get("authorization"))))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.w = page.locator("callcenter-chat")

    def start(self, name: str, url: str | None = None) -> "Chat":
        # The tenant info (with the upload limit and the widget's settings) comes as the widget starts.
        with self.page.expect_response(lambda r: f"/chat/public/tenants/{self.tenant}" in r.url):
            self.page.goto(url or self.server + "/widget-demo.html")
        self.w.locator(".bub").click()
        start_widget_chat(self.w, name)
        self.page.wait_for_function(f"() => (JSON.parse(localStorage.getItem({self.key})) || {{}}).sid")
        return self

    @property
    def stored(self) -> dict:
        return self.page.evaluate(f"JSON.parse(localStorage.getItem({self.key}))")

    @property
    def box(self):
        return self.w.get_by_role("textbox", name="Type a message…")

    def pick(self, *files: dict) -> None:
        self.w.locator("input[type=file]").set_input_files(list(files))

    def chips_uploaded(self, count: int) -> None:
        """`count` chips, each showing its size (the upload answered) rather than a progress or "…"."""
        expect(self.w.locator(".cf")).to_have_count(count)
        for chip in self.w.locator(".cf small").all():
            expect(chip).to_have_text(re.compile(r"^\d+(\.\d)? (B|KB|MB)$"), timeout=TIMEOUT)

    def wait_thumbnail(self, selector: str, width: int) -> None:
        """The image in the thumbnail `selector` (inside the shadow root) has loaded at its natural width."""
        self.page.wait_for_function(
            """([sel, width]) => {
                const img = document.querySelector('callcenter-chat').shadowRoot.querySelector(sel);
                return img && img.complete && img.naturalWidth === width && img.src.startsWith('blob:');
            }""", arg=[selector, width], timeout=TIMEOUT)

    def upload_posts(self) -> list[str]:
        return [url for method, url, _ in self.requests if method == "POST" and url.endswith("/attachments")]

    def token_never_in_a_url(self) -> None:
        token = self.stored["token"]
        assert token and all(token not in url for _, url, _ in self.requests)
        fetched = [(url, auth) for _, url, auth in self.requests if re.search(r"/attachments(/|$)", url)]
        assert fetched and all(auth == f"Bearer {token}" for _, auth in fetched)


def agent_messages(server: str, token: str, sid: str) -> list[dict]:
    return call(server, "GET", f"/chat/sessions/{sid}/messages", token=token)["messages"]


def agent_download(server: str, token: str, sid: str, attachment_id: str) -> bytes:
    req = urllib.request.Request(f"{server}/api/v1/chat/sessions/{sid}/attachments/{attachment_id}",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


def agent_send_file(server: str, token: str, sid: str, name: str, data: bytes, text: str) -> dict:
    """The agent uploads a file (multipart, field `file`) and sends it in a message."""
    boundary = "cc-" + uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{server}/api/v1/chat/sessions/{sid}/attachments", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 201
        attachment = json.loads(resp.read())["attachment"]
    call(server, "POST", "/chat/messages", {"session_id": sid, "message": text, "attachment_ids": [attachment["id"]]},
         token=token)
    return attachment


def inside(locator, width: int) -> None:
    """The element is within the first `width` CSS pixels of the viewport, horizontally."""
    box = locator.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_image_with_text_reaches_the_agent_and_shows_as_a_thumbnail(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Ivy Image")
    w = chat.w
    picker = w.locator("input[type=file]")
    assert picker.get_attribute("accept").split(",") == [
        ".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".txt", ".csv", ".log", ".md", ".docx", ".xlsx", ".pptx",
        ".odt", ".ods", ".odp", ".zip"]

    # The paperclip opens the file picker; the chosen file uploads at once and waits as a chip.
    image = png(40, 30)
    with page.expect_file_chooser() as chooser:
        w.get_by_role("button", name="Attach files").click()
    assert chooser.value.is_multiple()
    chooser.value.set_files(payload("photo.png", image, "image/png"))
    expect(w.locator(".cf span")).to_have_text("photo.png")
    chat.chips_uploaded(1)
    assert len(chat.upload_posts()) == 1
    chat.box.fill("Here is the photo")
    chat.box.press("Enter")

    # The bubble: the text and the thumbnail (fetched with the token, shown from a blob: URL); chips cleared.
    bubble = w.locator(".m.v").last
    expect(bubble).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    expect(bubble.locator(".b")).to_contain_text("Here is the photo")
    expect(bubble.locator(".th")).to_have_attribute("title", "photo.png")
    chat.wait_thumbnail(".m.v .th img", 40)
    expect(w.locator(".cf")).to_have_count(0)

    # The agent's history has the message with its file, and the agent can download the same bytes.
    sid = chat.stored["sid"]
    (msg,) = agent_messages(server, agent, sid)
    assert msg["body"] == "Here is the photo"
    (attachment,) = msg["attachments"]
    assert {k: attachment[k] for k in ("name", "size", "content_type", "kind")} == {
        "name": "photo.png", "size": len(image), "content_type": "image/png", "kind": "image"}
    assert agent_download(server, agent, sid, attachment["id"]) == image

    # A click shows the full image (its blob: URL in a new tab).
    with page.expect_popup() as popup:
        bubble.locator(".th").click()
    assert popup.value.url.startswith("blob:")
    popup.value.close()
    chat.token_never_in_a_url()
    screenshot(page, "widget-attachment-image")
    assert not chat.errors


def test_files_show_as_chips_and_download(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Finn Files")
    w = chat.w
    chat.pick(payload("notes.txt", TXT, "text/plain"), payload("invoice.pdf", PDF, "application/pdf"))
    chat.chips_uploaded(2)
    expect(w.locator(".cf span")).to_have_text(["notes.txt", "invoice.pdf"])
    # Files and no text: Send is enough.
    w.get_by_role("button", name="Send").click()

    bubble = w.locator(".m.v").last
    expect(bubble).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    chips = bubble.locator(".fc")
    expect(chips.locator("span")).to_have_text(["notes.txt", "invoice.pdf"])
    expect(chips.locator("small")).to_have_text([f"{len(TXT)} B", f"{len(PDF)} B"])
    for chip, name, data in ((chips.nth(0), "notes.txt", TXT), (chips.nth(1), "invoice.pdf", PDF)):
        with page.expect_download() as download:
            chip.click()
        assert download.value.suggested_filename == name
        assert Path(download.value.path()).read_bytes() == data
    assert w.locator(".m.v img").count() == 0
    # The host page's "message" event carries the files too (the demo page logs them).
    expect(page.locator("#events li").filter(has_text="message from you")).to_contain_text(
        ["📎 notes.txt, 📎 invoice.pdf"])
    screenshot(page, "widget-attachment-files")

    (msg,) = agent_messages(server, agent, chat.stored["sid"])
    assert msg["body"] == ""
    assert [(a["name"], a["kind"], a["content_type"]) for a in msg["attachments"]] == [
        ("notes.txt", "file", "text/plain"), ("invoice.pdf", "file", "application/pdf")]
    chat.token_never_in_a_url()
    assert not chat.errors


def test_refused_files_show_an_error_and_send_nothing(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Rex Refused")
    w = chat.w
    error = w.locator(".cp .er")

    # Types the server refuses (it decides from the bytes): its message is shown, the chip goes away.
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>window.ccXss=3</script></svg>'
    chat.pick(payload("drawing.svg", svg, "image/svg+xml"))
    expect(error).to_contain_text("drawing.svg: this kind of file is not accepted", timeout=TIMEOUT)
    expect(w.locator(".cf")).to_have_count(0)
    chat.pick(payload("setup.exe", b"MZ\x90\x00" + bytes(200), "application/octet-stream"))
    expect(error).to_contain_text("setup.exe: this kind of file is not accepted", timeout=TIMEOUT)
    expect(error).not_to_contain_text("drawing.svg")  # a new pick clears the last error
    expect(w.locator(".cf")).to_have_count(0)
    assert len(chat.upload_posts()) == 2

    # Over the tenant's limit: refused in the page, before any upload.
    chat.pick(payload("big.png", png(4, 4) + bytes(UPLOAD_LIMIT), "image/png"))
    expect(error).to_have_text("big.png is larger than 256 KB.")
    expect(w.locator(".cf")).to_have_count(0)
    assert len(chat.upload_posts()) == 2

    # Nothing to send: Send does nothing.
    w.get_by_role("button", name="Send").click()
    chat.box.press("Enter")
    expect(w.locator(".m.v")).to_have_count(0)
    assert agent_messages(server, agent, chat.stored["sid"]) == []

    # At most ten files per message: the eleventh is refused in the page.
    chat.pick(*(payload(f"part-{i}.txt", TXT, "text/plain") for i in range(11)))
    expect(error).to_have_text("Up to 10 files per message.")
    chat.chips_uploaded(10)
    assert page.evaluate("window.ccXss") is None
    assert not chat.errors


def test_send_waits_for_uploads_and_an_upload_can_be_cancelled(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Wes Wait")
    w = chat.w
    uploads = re.compile(r".*/attachments$")
    held = []  # uploads wait here until the test lets them through
    page.route(uploads, lambda route: held.append(route))

    # An image pasted into the message box uploads like a picked file.
    with page.expect_request(uploads):
        page.evaluate("""(bytes) => {
            const box = document.querySelector('callcenter-chat').shadowRoot.querySelector('textarea');
            const data = new DataTransfer();
            data.items.add(new File([new Uint8Array(bytes)], 'pasted.png', {type: 'image/png'}));
            box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
        }""", list(png(12, 12)))
    with page.expect_request(uploads):
        chat.pick(payload("cancel-me.txt", TXT, "text/plain"))
    expect(w.locator(".cf span")).to_have_text(["pasted.png", "cancel-me.txt"])
    pending = re.compile(r"^(…|\d+%)$")  # neither has answered: no size yet
    expect(w.locator(".cf small")).to_have_text([pending, pending])

    # Send while a file is still uploading: nothing goes, the visitor is told why.
    chat.box.fill("With the pasted picture")
    chat.box.press("Enter")
    expect(w.locator(".cp .er")).to_have_text("Wait until the files have uploaded.")
    expect(w.locator(".m.v")).to_have_count(0)

    # Removing a chip while its upload runs cancels it; the other one completes.
    with page.expect_event("requestfailed", lambda r: b'filename="cancel-me.txt"' in r.post_data_buffer):
        w.get_by_role("button", name="Remove cancel-me.txt").click()
    expect(w.locator(".cf span")).to_have_text(["pasted.png"])
    next(r for r in held if b'filename="pasted.png"' in r.request.post_data_buffer).continue_()
    chat.chips_uploaded(1)
    chat.box.press("Enter")
    bubble = w.locator(".m.v").last
    expect(bubble).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    expect(bubble.locator(".b")).to_contain_text("With the pasted picture")
    chat.wait_thumbnail(".m.v .th img", 12)
    (msg,) = agent_messages(server, agent, chat.stored["sid"])
    assert [a["name"] for a in msg["attachments"]] == ["pasted.png"]
    assert not chat.errors


def test_agent_file_appears_live_with_its_thumbnail(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Lea Live")
    w = chat.w
    chat.box.fill("Can you send me the size chart?")
    chat.box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    sid = chat.stored["sid"]

    chart = png(64, 48, (16, 185, 129))
    agent_send_file(server, agent, sid, "size-chart.png", chart, "Here it is")
    reply = w.locator(".m.a:not(.g)").last
    expect(reply.locator(".b")).to_contain_text("Here it is")
    expect(reply.locator(".th")).to_have_attribute("title", "size-chart.png")
    chat.wait_thumbnail(".m.a:not(.g) .th img", 64)
    # Files only, from the agent: a chip in the bubble.
    agent_send_file(server, agent, sid, "returns.txt", TXT, "")
    expect(w.locator(".m.a:not(.g)").last.locator(".fc span")).to_have_text("returns.txt")
    chat.token_never_in_a_url()
    assert not chat.errors


def test_hostile_file_names_are_text(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Hal Hostile")
    w = chat.w
    chat.pick(payload(HOSTILE_IMAGE, png(20, 20), "image/png"))
    expect(w.locator(".cf span")).to_have_text(HOSTILE_IMAGE)
    chat.chips_uploaded(1)
    chat.box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    thumb = w.locator(".m.v .th")
    expect(thumb).to_have_attribute("title", HOSTILE_IMAGE)
    expect(thumb.locator("img")).to_have_attribute("alt", HOSTILE_IMAGE)
    chat.wait_thumbnail(".m.v .th img", 20)
    agent_send_file(server, agent, chat.stored["sid"], HOSTILE_FILE, TXT, "")
    expect(w.locator(".m.a:not(.g) .fc span")).to_have_text(HOSTILE_FILE)

    # Nothing was parsed as markup: one <img> (the thumbnail), no handler attributes, no flag set.
    found = page.evaluate("""() => {
        const root = document.querySelector('callcenter-chat').shadowRoot;
        const all = [...root.querySelectorAll('*'), ...document.querySelectorAll('*')];
        return {imgs: root.querySelectorAll('img').length,
                svgs: root.querySelectorAll('svg:not(.ci):not(.xi):not(.av svg):not(.x svg)').length,
                handlers: all.filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
                flag: window.ccXss === undefined ? null : window.ccXss};
    }""")
    assert found == {"imgs": 1, "svgs": 2, "handlers": 0, "flag": None}  # svgs (besides launcher, X, avatar icons): paperclip, send
    assert not chat.errors


def test_attachments_after_reload_resume_and_history(context, server, agent):
    page = context.new_page()
    chat = Chat(page, server).start("Rita Reload")
    w = chat.w
    chat.pick(payload("receipt.png", png(32, 16), "image/png"))
    chat.chips_uploaded(1)
    chat.box.fill("My receipt")
    chat.box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    sid = chat.stored["sid"]

    # The visitor leaves; the agent answers with a file meanwhile; back on the page, the socket resumes.
    page.goto("about:blank")
    agent_send_file(server, agent, sid, "label.pdf", PDF, "Your return label")
    page.goto(server + "/widget-demo.html")  # the panel was open in this tab: it opens again
    expect(w.locator(".m.a:not(.g) .fc span")).to_have_text("label.pdf", timeout=TIMEOUT)
    chat.wait_thumbnail(".m.v .th img", 32)
    stored = chat.stored
    assert [(m["b"], [a["name"] for a in m["f"]]) for m in stored["msgs"]] == [
        ("My receipt", ["receipt.png"]), ("Your return label", ["label.pdf"])]

    # Without the local copy, the history from the server brings the same files.
    page.evaluate(f"""() => {{
        const s = JSON.parse(localStorage.getItem({chat.key}));
        s.msgs = []; s.last = 0;
        localStorage.setItem({chat.key}, JSON.stringify(s));
    }}""")
    page.reload()
    expect(w.locator(".m.a:not(.g) .fc span")).to_have_text("label.pdf", timeout=TIMEOUT)
    expect(w.locator(".m.v .b")).to_contain_text("My receipt")
    chat.wait_thumbnail(".m.v .th img", 32)
    with page.expect_download() as download:
        w.locator(".m.a:not(.g) .fc").click()
    assert Path(download.value.path()).read_bytes() == PDF
    chat.token_never_in_a_url()

    # Files that cannot be fetched show as failed (the image's name in place of the picture), not as blanks.
    page.route(re.compile(r".*/attachments/[0-9a-f]{32}$"), lambda route: route.abort())
    page.reload()
    thumb = w.locator(".m.v .th")
    expect(thumb).to_have_class("th e", timeout=TIMEOUT)
    assert thumb.evaluate("el => getComputedStyle(el, '::before').content") == '"⚠ receipt.png"'
    chip = w.locator(".m.a:not(.g) .fc")
    chip.click()
    expect(chip).to_have_class("fc e")
    assert not chat.errors


def test_phone_chips_wrap_and_can_be_removed(browser, server, agent):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", is_mobile=True,
                                  has_touch=True)
    try:
        page = context.new_page()
        chat = Chat(page, server).start("Pia Phone")
        w = chat.w
        names = [f"a-rather-long-file-name-for-a-phone-screen-{i}.txt" for i in range(3)]
        chat.pick(*(payload(name, TXT, "text/plain") for name in names))
        chat.chips_uploaded(3)
        for chip in w.locator(".cf").all():
            inside(chip, 390)
        rows = {round(chip.bounding_box()["y"]) for chip in w.locator(".cf").all()}
        assert len(rows) == 3  # one per row: they wrap instead of overflowing
        for name in ("Attach files", "Send"):
            button = w.get_by_role("button", name=name)
            expect(button).to_be_in_viewport()
        ARTIFACTS.mkdir(exist_ok=True)  # the viewport itself: a full-page capture stretches fixed elements
        page.screenshot(path=str(ARTIFACTS / "widget-attachment-phone.png"))

        # Remove one before sending: the server forgets it (no longer in the quota); the message carries the others.
        with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
            w.get_by_role("button", name=f"Remove {names[1]}").tap()
        assert deleted.value.status == 204
        expect(w.locator(".cf span")).to_have_text([names[0], names[2]])
        removed_id = deleted.value.url.rsplit("/", 1)[1]
        with pytest.raises(HttpError) as gone:
            call(server, "GET", f"/chat/sessions/{chat.stored['sid']}/attachments/{removed_id}", token=agent)
        assert gone.value.status == 404
        w.get_by_role("button", name="Send").tap()
        bubble = w.locator(".m.v").last
        expect(bubble).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
        expect(bubble.locator(".fc span")).to_have_text([names[0], names[2]])
        inside(bubble, 390)
        (msg,) = agent_messages(server, agent, chat.stored["sid"])
        assert [a["name"] for a in msg["attachments"]] == [names[0], names[2]]

        # A wide image from the agent: its thumbnail fits the bubble, which fits the screen.
        agent_send_file(server, agent, chat.stored["sid"], "panorama.png", png(900, 60), "")
        thumb = w.locator(".m.a:not(.g) .th")
        chat.wait_thumbnail(".m.a:not(.g) .th img", 900)
        inside(w.locator(".m.a:not(.g) .b"), 390)
        assert thumb.bounding_box()["width"] <= w.locator(".m.a:not(.g) .b").bounding_box()["width"]
        assert not chat.errors
    finally:
        context.close()


def test_upload_from_a_page_on_another_origin(context, server, host_site):
    """The widget as other sites embed it: uploads and downloads are cross-origin (CORS, with preflights)."""
    url, tenant = host_site
    page = context.new_page()
    chat = Chat(page, server, tenant).start("Cora Cross", url)
    w = chat.w
    chat.box.fill("Hello from the host shop")
    chat.box.press("Enter")
    expect(w.locator(".m.v").last).to_have_attribute("data-status", "delivered", timeout=TIMEOUT)
    chat.pick(payload("photo.png", png(24, 24), "image/png"))
    # Settled either way: uploaded (the chip shows the size) or refused (an error under the chips).
    page.wait_for_function("""() => {
        const root = document.querySelector('callcenter-chat').shadowRoot;
        return !root.querySelector('.cp .er').hidden || /B$/.test((root.querySelector('.cf small') || {}).textContent);
    }""", timeout=TIMEOUT)
    expect(w.locator(".cp .er")).to_be_hidden()
    chat.chips_uploaded(1)
    chat.box.press("Enter")
    chat.wait_thumbnail(".m.v .th img", 24)
    assert len(chat.upload_posts()) == 1
    chat.token_never_in_a_url()
    assert not chat.errors
