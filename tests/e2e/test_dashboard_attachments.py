"""File attachments in the agent dashboard (/), in Chromium against `callcenter serve`.

The agent attaches files with the paperclip (or a drop, or a pasted image): each uploads at once and
waits as a chip above the reply box (progress, remove ✕), in the conversation it was added in; Send
sends the text with the uploaded files, or the files alone. Messages show images as thumbnails
(fetched with the bearer token, shown through blob: URLs, opened full size in a viewer) and other
files as chips that download. Refused files (type, size) show an error and send nothing; hostile file
names are text; everything is still there after a reload.
"""
from __future__ import annotations

import base64
import json
import re
import struct
import time
import urllib.error
import urllib.request
import uuid
import zlib

import pytest
from playwright.sync_api import expect

from tests.cluster import embedded_server
from tests.e2e.conftest import screenshot
from tests.e2e.dashboard_support import CHROME_UA, HttpError, Visitor, call, messages, open_conversation, row

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


# ---- files ---------------------------------------------------------------------------------------

def png_bytes(width: int = 48, height: int = 32, rgb: tuple[int, int, int] = (220, 38, 38)) -> bytes:
    """A valid RGB PNG of one colour."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PDF = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> "
       b"endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=9"><circle r="5"/></svg>'


def payload(name: str, data: bytes, mime: str) -> dict:
    return {"name": name, "mimeType": mime, "buffer": data}


# ---- REST helpers (the visitor's side) ----------------------------------------------------------------

def upload(base: str, path: str, token: str, filename: str, data: bytes,
           mime: str = "application/octet-stream") -> dict:
    """POST one file as multipart/form-data (field `file`); the answer's attachment."""
    boundary = "----cc" + uuid.uuid4().hex
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quoted}\"\r\n"
            f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(base + "/api/v1" + path, method="POST", data=body, headers={
        "Authorization": "Bearer " + token, "Content-Type": f"multipart/form-data; boundary={boundary}",
        "User-Agent": CHROME_UA})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 201
            return json.loads(resp.read())["attachment"]
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, json.loads(exc.read() or b"null")) from None


def visitor_upload(visitor: Visitor, filename: str, data: bytes, mime: str = "application/octet-stream") -> dict:
    return upload(visitor.base, f"/chat/public/session/{visitor.session_id}/attachments", visitor.token, filename,
                  data, mime)


def visitor_send_files(visitor: Visitor, ids: list[str], text: str = "") -> dict:
    return call(visitor.base, "POST", "/chat/public/message",
                {"session_id": visitor.session_id, "message": text, "attachment_ids": ids}, visitor.token)["message"]


def visitor_download(visitor: Visitor, attachment_id: str) -> bytes:
    req = urllib.request.Request(
        f"{visitor.base}/api/v1/chat/public/session/{visitor.session_id}/attachments/{attachment_id}",
        headers={"Authorization": "Bearer " + visitor.token, "User-Agent": CHROME_UA})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read()


# ---- the page -----------------------------------------------------------------------------------------------

def _img_src_allows_blob(csp: str) -> bool:
    match = re.search(r"(?:^|;)\s*img-src ([^;]*)", csp)
    return bool(match) and "blob:" in match.group(1).split()


def new_context(browser, viewport: dict = DESKTOP, **options):
    """The agent's browser context here (for `agent_dashboard` / `open_chat`): downloads accepted, and
    which object URLs its pages revoke (a conversation's, when it is left) kept in `window.__revoked`."""
    context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
    context.add_init_script("""
        window.__revoked = [];
        const revoke = URL.revokeObjectURL.bind(URL);
        URL.revokeObjectURL = (url) => { window.__revoked.push(url); revoke(url); };
    """)
    return context


def record_urls(page) -> None:
    """Every URL the page asks for, in `page.urls` (a token must never be one of them); the fixtures'
    `prepare` hook, so that the sign-in's own requests are in it too."""
    page.urls = []
    page.on("request", lambda req: page.urls.append(req.url))


def uploads_started(page) -> int:
    return sum(1 for u in page.urls if u.endswith("/attachments"))


def composer_chips(page):
    return page.locator("#composer-files .upload-chip")


def attach(page, *files: dict) -> None:
    page.locator("#composer-file").set_input_files(list(files))


def wait_uploaded(page, count: int) -> None:
    expect(page.locator("#composer-files .upload-chip.done")).to_have_count(count)


def thumbs_loaded(locator) -> None:
    """Every thumbnail in `locator` shows a decoded image."""
    expect(locator.locator(".att-thumb")).not_to_have_count(0)
    expect(locator.locator(".att-thumb.loading")).to_have_count(0, timeout=10_000)
    expect(locator.locator(".att-thumb.error")).to_have_count(0)
    for img in locator.locator(".att-thumb img").all():
        assert img.evaluate("img => img.complete && img.naturalWidth") > 0
        assert img.get_attribute("src").startswith("blob:")


def assert_no_token_in_urls(page, token: str | None) -> None:
    assert page.urls
    for url in page.urls:
        assert "eyJ" not in url and (not token or token not in url), url


def wait_until(page, condition, timeout_s: float = 10.0) -> None:
    """Poll a Python-side condition, letting Playwright dispatch its events (route handlers) meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        page.wait_for_timeout(20)


def agent_token_of(page) -> str:
    return page.evaluate("sessionStorage.getItem('cc.dashboard.token')")


# ---- tests --------------------------------------------------------------------------------------------------

def test_dashboard_csp_allows_blob_images_only(page, live_server):
    """Thumbnails are blob: URLs of files fetched with the token: the page's policy allows them as
    images, and nothing more (no blob: scripts, frames or fetches)."""
    response = page.goto(live_server + "/")
    csp = response.headers["content-security-policy"]
    assert _img_src_allows_blob(csp)
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    assert directives["script-src"].strip() == "'self'"
    assert all("blob:" not in value for name, value in directives.items() if name != "img-src")


def test_agent_sends_an_image_with_text_and_the_visitor_gets_it(browser, live_server, open_chat):
    chat = open_chat(live_server, "Ivy Image", "Can you show me the colour?", email="ivy@example.com",
                     context=new_context(browser), prepare=record_urls)
    visitor, page, errors = chat.visitor, chat.page, chat.errors
    file_input = page.locator("#composer-file")
    accept = file_input.get_attribute("accept").split(",")
    for ext in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".txt", ".csv", ".log", ".md", ".docx", ".xlsx",
                ".pptx", ".odt", ".ods", ".odp", ".zip"):
        assert ext in accept
    assert ".svg" not in accept and "image/svg+xml" not in accept
    expect(page.locator("#composer-attach")).to_be_visible()

    # The paperclip opens the picker.
    with page.expect_file_chooser() as chooser:
        page.click("#composer-attach")
    assert chooser.value.is_multiple()
    image = png_bytes(60, 40)
    chooser.value.set_files([payload("red-swatch.png", image, "image/png")])
    chip = composer_chips(page)
    expect(chip).to_have_count(1)
    expect(chip.locator(".upload-name")).to_have_text("red-swatch.png")
    wait_uploaded(page, 1)
    expect(chip.locator(".upload-status")).to_have_text(re.compile(r"^\d+(\.\d)? (B|KB)$"))
    expect(page.locator("#composer-error")).to_be_hidden()

    page.locator("#composer-input").fill("Here it is:")
    page.locator("#composer-input").press("Enter")
    mine = page.locator("#msg-list .msg.mine")
    expect(mine).to_have_count(1)
    expect(mine.locator(".msg-body")).to_have_text("Here it is:")
    thumbs_loaded(mine)
    expect(composer_chips(page)).to_have_count(0)
    expect(page.locator("#composer-files")).to_be_hidden()

    # The visitor's history has it, and the bytes are the same.
    sent = visitor.wait_for_message("Here it is:")
    assert [(a["name"], a["kind"], a["content_type"], a["size"]) for a in sent["attachments"]] == [
        ("red-swatch.png", "image", "image/png", len(image))]
    assert visitor_download(visitor, sent["attachments"][0]["id"]) == image

    # A click opens it full size; Esc closes.
    mine.locator(".att-thumb").click()
    viewer = page.locator("#lightbox")
    expect(viewer).to_be_visible()
    expect(page.locator("#lightbox-name")).to_have_text("red-swatch.png")
    assert page.locator("#lightbox-img").evaluate("img => img.complete && img.naturalWidth") == 60
    screenshot(page, "dashboard-attachments-viewer")
    with page.expect_download() as download:
        page.click("#lightbox-download")
    assert download.value.suggested_filename == "red-swatch.png"
    assert open(download.value.path(), "rb").read() == image
    page.keyboard.press("Escape")
    expect(viewer).to_be_hidden()

    # After a reload the image is still there.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-list-ready", "1")
    open_conversation(page, "Ivy Image")
    thumbs_loaded(page.locator("#msg-list .msg.mine"))
    assert_no_token_in_urls(page, agent_token_of(page))
    screenshot(page, "dashboard-attachment-image")
    assert not errors


def test_files_show_as_chips_and_download(browser, live_server, open_chat):
    chat = open_chat(live_server, "Fred Files", "Please send the invoice and the log", email="fred@example.com",
                     context=new_context(browser), prepare=record_urls)
    visitor, page, errors = chat.visitor, chat.page, chat.errors
    text = ("line of the log\n" * 800).encode()[: 12 * 1024]
    attach(page, payload("invoice 7781.pdf", PDF, "application/pdf"), payload("server.log.txt", text, "text/plain"))
    wait_uploaded(page, 2)
    expect(composer_chips(page).locator(".upload-name")).to_have_text(["invoice 7781.pdf", "server.log.txt"])
    # Files alone, no text: Send sends them.
    page.click("#composer-send")
    mine = page.locator("#msg-list .msg.mine")
    expect(mine).to_have_count(1)
    expect(mine.locator(".msg-body")).to_have_count(0)
    chips = mine.locator(".att-file")
    expect(chips.locator(".att-name")).to_have_text(["invoice 7781.pdf", "server.log.txt"])
    expect(chips.locator(".att-size")).to_have_text([f"{len(PDF)} B", "12 KB"])
    expect(mine.locator(".att-thumb")).to_have_count(0)

    # The visitor's list preview and history.
    stored = [m for m in visitor.messages() if m["sender_type"] == "agent"]
    assert stored[-1]["body"] == "" and [a["name"] for a in stored[-1]["attachments"]] == [
        "invoice 7781.pdf", "server.log.txt"]
    expect(row(page, "Fred Files").locator(".row-preview")).to_contain_text("📎 invoice 7781.pdf")

    # A click downloads each, with its name and bytes.
    for name, data in (("invoice 7781.pdf", PDF), ("server.log.txt", text)):
        with page.expect_download() as download:
            chips.filter(has_text=name).click()
        assert download.value.suggested_filename == name
        assert open(download.value.path(), "rb").read() == data

    # Still there after a reload, and still downloads.
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-list-ready", "1")
    open_conversation(page, "Fred Files")
    chips = page.locator("#msg-list .msg.mine .att-file")
    expect(chips.locator(".att-name")).to_have_text(["invoice 7781.pdf", "server.log.txt"])
    with page.expect_download() as download:
        chips.first.click()
    assert open(download.value.path(), "rb").read() == PDF
    assert_no_token_in_urls(page, agent_token_of(page))
    assert not errors


@pytest.fixture
def small_limit_server(tmp_path):
    """A server whose uploads may be at most 4 KiB (the dashboard learns it from /auth/me)."""
    with embedded_server(tmp_path, CALLCENTER_MAX_UPLOAD_BYTES="4096") as (url, _log):
        yield url


def test_refused_files_show_an_error_and_send_nothing(browser, small_limit_server, open_chat):
    base = small_limit_server
    chat = open_chat(base, "Rita Refused", "hello", email="rita@example.com",
                     context=new_context(browser), prepare=record_urls)
    visitor, page, errors = chat.visitor, chat.page, chat.errors
    error = page.locator("#composer-error")

    # An SVG: refused before any upload.
    attach(page, payload("logo.svg", SVG, "image/svg+xml"))
    expect(composer_chips(page)).to_have_count(1)
    expect(composer_chips(page)).to_have_attribute("data-state", "error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("logo.svg: this kind of file is not accepted")
    # Too large for this server's limit (4 KiB, from /auth/me): refused before any upload.
    attach(page, payload("big.png", png_bytes(200, 200, (1, 2, 3)) + b"\0" * 8192, "image/png"))
    expect(error).to_contain_text("big.png: the file is too large")
    expect(error).to_contain_text("at most 4 KB")
    assert uploads_started(page) == 0
    # An SVG dressed up as a PNG: the server looks at the bytes (415) and its message is shown.
    attach(page, payload("fake.png", SVG, "image/png"))
    expect(error).to_contain_text("fake.png: this kind of file is not accepted; send images (PNG, JPEG, GIF, WebP)")
    assert uploads_started(page) == 1
    expect(composer_chips(page)).to_have_count(3)
    expect(page.locator("#composer-files .upload-chip.error")).to_have_count(3)
    screenshot(page, "dashboard-attachments-refused")

    # Send with only refused files: nothing is sent.
    page.click("#composer-send")
    page.locator("#composer-input").press("Enter")
    expect(page.locator("#pending-list .msg")).to_have_count(0)
    assert [m["body"] for m in visitor.messages()] == ["hello"]
    # The ✕ removes a chip and its error.
    composer_chips(page).filter(has_text="logo.svg").locator(".upload-remove").click()
    expect(composer_chips(page)).to_have_count(2)
    expect(error).not_to_contain_text("logo.svg")
    # Text still sends; the refused files go with nothing and leave the tray.
    page.locator("#composer-input").fill("Could you send a smaller one?")
    page.locator("#composer-input").press("Enter")
    expect(messages(page, "Could you send a smaller one?")).to_have_count(1)
    sent = visitor.wait_for_message("Could you send a smaller one?")
    assert sent["attachments"] == []
    expect(composer_chips(page)).to_have_count(0)
    expect(error).to_be_hidden()
    assert page.evaluate("window.__pwned") is None
    assert not errors


def test_unsent_files_stay_in_their_conversation(browser, live_server, agent_dashboard):
    """Chips belong to the conversation they were added in: uploading, switching away and back,
    removing, sending elsewhere; Send waits for uploads to finish."""
    first = Visitor(live_server, name="Una Uploads", email="una@example.com")
    first.send("first chat")
    second = Visitor(live_server, name="Otto Other", email="otto@example.com")
    second.send("second chat")
    desk = agent_dashboard(live_server, context=new_context(browser), prepare=record_urls)
    page, errors = desk.page, desk.errors
    held = []
    try:
        # Uploads are held back until the test lets them through.
        page.route("**/attachments", lambda route: held.append(route))
        open_conversation(page, "Una Uploads")
        attach(page, payload("held.png", png_bytes(), "image/png"))
        chip = composer_chips(page)
        expect(chip).to_have_attribute("data-state", "uploading")
        expect(chip.locator(".upload-status")).to_have_text(re.compile(r"^Uploading \d+%$"))
        expect(chip.locator("[role=progressbar]")).to_have_count(1)
        wait_until(page, lambda: len(held) == 1)
        # Send while it uploads: a note, nothing sent.
        page.locator("#composer-input").fill("with the file")
        page.locator("#composer-input").press("Enter")
        expect(page.locator("#composer-error")).to_contain_text("Wait until the files have finished uploading")
        expect(page.locator("#pending-list .msg")).to_have_count(0)
        expect(page.locator("#composer-input")).to_have_value("with the file")
        screenshot(page, "dashboard-attachments-uploading")

        # Another conversation has no chips; coming back, they are there.
        open_conversation(page, "Otto Other")
        expect(composer_chips(page)).to_have_count(0)
        expect(page.locator("#composer-error")).to_be_hidden()
        open_conversation(page, "Una Uploads")
        expect(composer_chips(page)).to_have_count(1)
        assert len(held) == 1
        held.pop().continue_()
        wait_uploaded(page, 1)

        # ✕ removes an uploaded chip before sending, and the server forgets the file.
        with page.expect_response(lambda r: r.request.method == "DELETE" and "/attachments/" in r.url) as removed:
            composer_chips(page).locator(".upload-remove").click()
        assert removed.value.status == 204
        expect(composer_chips(page)).to_have_count(0)
        page.unroute("**/attachments")

        # A file added here, then text sent in the other conversation: the file stays here.
        attach(page, payload("for-una.pdf", PDF, "application/pdf"))
        wait_uploaded(page, 1)
        open_conversation(page, "Otto Other")
        page.locator("#composer-input").fill("just text for Otto")
        page.locator("#composer-input").press("Enter")
        expect(messages(page, "just text for Otto")).to_have_count(1)
        assert second.wait_for_message("just text for Otto")["attachments"] == []
        open_conversation(page, "Una Uploads")
        expect(composer_chips(page).locator(".upload-name")).to_have_text(["for-una.pdf"])
        expect(page.locator("#composer-input")).to_have_value("with the file")
        page.locator("#composer-input").press("Enter")
        sent = first.wait_for_message("with the file")
        assert [a["name"] for a in sent["attachments"]] == ["for-una.pdf"]
        expect(messages(page, "with the file").locator(".att-name")).to_have_text("for-una.pdf")
        assert not any(m["attachments"] for m in second.messages())
        assert not errors
    finally:
        for route in held:
            try:
                route.abort()
            except Exception:  # the page already gave up on it
                pass


def test_visitor_image_appears_live_with_its_thumbnail(browser, live_server, open_chat):
    chat = open_chat(live_server, "Vic Visitor", "I have a photo of the damage", email="vic@example.com",
                     context=new_context(browser), prepare=record_urls)
    visitor, page, errors = chat.visitor, chat.page, chat.errors
    image = png_bytes(80, 50, (16, 185, 129))
    meta = visitor_upload(visitor, "damage.png", image, "image/png")
    assert meta["kind"] == "image"
    visitor_send_files(visitor, [meta["id"]])
    incoming = page.locator("#msg-list .msg[data-sender=visitor]").filter(has=page.locator(".att-thumb"))
    expect(incoming).to_have_count(1)
    thumbs_loaded(incoming)
    assert incoming.locator(".att-thumb img").get_attribute("alt") == "damage.png"
    expect(row(page, "Vic Visitor").locator(".row-preview")).to_have_text("📎 damage.png")

    # A file and text from the visitor, live too.
    doc = visitor_upload(visitor, "notes.txt", b"scratch on the left side\n", "text/plain")
    visitor_send_files(visitor, [doc["id"]], "and my notes")
    expect(messages(page, "and my notes").locator(".att-name")).to_have_text("notes.txt")
    expect(row(page, "Vic Visitor").locator(".row-preview")).to_have_text("and my notes")

    # Leaving the conversation revokes its object URLs.
    src = incoming.locator(".att-thumb img").get_attribute("src")
    assert src not in page.evaluate("window.__revoked")
    open_conversation(page, "Maria Lopez")
    assert src in page.evaluate("window.__revoked")
    # Coming back fetches it again: loading, then (the server failing) an error that a click retries.
    held = []
    page.route("**/attachments/*", lambda route: held.append(route))
    open_conversation(page, "Vic Visitor")
    thumb = incoming.locator(".att-thumb")
    expect(thumb).to_have_attribute("data-state", "loading")
    expect(thumb.locator(".att-thumb-status")).to_have_text("Loading image…")
    wait_until(page, lambda: len(held) == 1)
    assert "Authorization" in {k.title(): v for k, v in held[0].request.headers.items()}
    held.pop().fulfill(status=500, content_type="application/json",
                       body='{"error": {"code": "internal_error", "message": "boom"}}')
    expect(thumb).to_have_attribute("data-state", "error")
    expect(thumb.locator(".att-thumb-status")).to_have_text("Image unavailable · click to retry")
    page.unroute("**/attachments/*")
    thumb.click()
    thumbs_loaded(incoming)
    assert incoming.locator(".att-thumb img").get_attribute("src") != src
    assert not errors


def test_hostile_file_names_are_text(browser, live_server, agent_dashboard):
    image_name = "<img src=x onerror=window.__pwned=1>.png"
    file_name = "<svg onload=window.__pwned=2>&amp;.txt"
    visitor = Visitor(live_server, name="Mal Files", email="mal@example.com")
    visitor.send("look")
    image = visitor_upload(visitor, image_name, png_bytes(), "image/png")
    doc = visitor_upload(visitor, file_name, b"hello\n", "text/plain")
    assert (image["name"], doc["name"]) == (image_name, file_name)
    visitor_send_files(visitor, [image["id"], doc["id"]])
    desk = agent_dashboard(live_server, context=new_context(browser), prepare=record_urls)
    page, errors = desk.page, desk.errors
    expect(row(page, "Mal Files").locator(".row-preview")).to_have_text(f"📎 {image_name}, {file_name}")
    open_conversation(page, "Mal Files")
    last = page.locator("#msg-list .msg[data-sender=visitor]").last
    thumbs_loaded(last)
    assert last.locator(".att-thumb img").get_attribute("alt") == image_name
    expect(last.locator(".att-file .att-name")).to_have_text(file_name)
    last.locator(".att-thumb").click()
    expect(page.locator("#lightbox-name")).to_have_text(image_name)
    page.keyboard.press("Escape")
    expect(page.locator("#lightbox")).to_be_hidden()
    # The agent's own upload of such a name: a chip of text.
    own_name = "<b onmouseover=window.__pwned=3>x<b>.md"
    attach(page, payload(own_name, b"# hi\n", "text/markdown"))
    wait_uploaded(page, 1)
    expect(composer_chips(page).locator(".upload-name")).to_have_text(own_name)
    # Nothing from a name became markup, nothing ran.
    assert page.locator("img[onerror], svg[onload], b[onmouseover], #msg-list b, #composer-files b").count() == 0
    assert page.locator("#msg-list img").count() == 1
    assert page.evaluate("window.__pwned") is None
    assert not errors


def test_drop_and_paste_add_files(browser, live_server, open_chat):
    chat = open_chat(live_server, "Dora Drop", "hi", email="dora@example.com",
                     context=new_context(browser), prepare=record_urls)
    visitor, page, errors = chat.visitor, chat.page, chat.errors
    # A file dropped on the conversation.
    page.evaluate("""() => {
        const dt = new DataTransfer();
        dt.items.add(new File(["a,b\\n1,2\\n"], "table.csv", {type: "text/csv"}));
        const target = document.getElementById("messages");
        for (const type of ["dragenter", "dragover", "drop"]) {
          target.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
        }
    }""")
    wait_uploaded(page, 1)
    # An image pasted into the reply box.
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "image.png", {type: "image/png"}));
        document.getElementById("composer-input").dispatchEvent(
          new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
    }""", base64.b64encode(png_bytes()).decode())
    wait_uploaded(page, 2)
    expect(composer_chips(page).locator(".upload-name")).to_have_text(["table.csv", "image.png"])
    page.click("#composer-send")
    mine = page.locator("#msg-list .msg.mine")
    expect(mine.locator(".att-name")).to_have_text(["table.csv"])
    thumbs_loaded(mine)
    assert [a["name"] for a in [m for m in visitor.messages() if m["sender_type"] == "agent"][-1]["attachments"]] \
        == ["table.csv", "image.png"]
    assert not errors


def test_attachments_on_a_phone(browser, live_server, agent_dashboard):
    visitor = Visitor(live_server, name="Pia Phone", email="pia@example.com")
    visitor.send("on my phone")
    meta = visitor_upload(visitor, "a-rather-long-file-name-for-a-small-screen-photo.png", png_bytes(600, 400),
                          "image/png")
    visitor_send_files(visitor, [meta["id"]])
    desk = agent_dashboard(live_server, context=new_context(browser, viewport=PHONE, is_mobile=True, has_touch=True,
                                                            device_scale_factor=2), prepare=record_urls)
    page, errors = desk.page, desk.errors
    row(page, "Pia Phone").click()
    expect(page.locator(".conv-pane")).to_be_visible()
    thumbs_loaded(page.locator("#msg-list"))
    expect(page.locator("#composer-attach")).to_be_visible()
    attach(page, payload("receipt-scan-from-the-store-2024.pdf", PDF, "application/pdf"))
    wait_uploaded(page, 1)
    page.locator("#composer-input").fill("Got it, and here is the receipt")
    page.click("#composer-send")
    expect(messages(page, "Got it, and here is the receipt").locator(".att-name")).to_have_text(
        "receipt-scan-from-the-store-2024.pdf")
    # Nothing is wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    thumb = page.locator("#msg-list .att-thumb").first
    box = thumb.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    screenshot(page, "dashboard-attachments-phone")
    thumb.click()
    expect(page.locator("#lightbox")).to_be_visible()
    page.click("#lightbox-close")
    expect(page.locator("#lightbox")).to_be_hidden()
    assert not errors
