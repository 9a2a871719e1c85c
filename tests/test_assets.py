"""The front end's built files (scripts/build_assets.py -> static/dist/): committed in step with their sources,
served as built, within the widget's size budget, with cache headers that match how their URLs change."""
from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from callcenter.paths import resource_dir

from .helpers import require, require_program

ROOT = resource_dir("static").parent
DIST = resource_dir("static") / "dist"
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
WIDGET_BUDGET = 12 * 1024  # gzip -5 (deploy/nginx.conf's gzip_comp_level), as scripts/bench_widget.py measures
IMMUTABLE = "public, max-age=31536000, immutable"

gen_test = pytest.mark.gen_test(timeout=60)


@pytest.fixture
def backend():
    return "sqlite"  # (pages and files: the same on every backend)


def manifest() -> dict:
    return json.loads((DIST / "manifest.json").read_text(encoding="utf-8"))


def test_committed_build_matches_its_sources():
    """static/dist/ is exactly what scripts/build_assets.py makes from the current sources: a source edited
    without a rebuild (or a hand-edited built file, or a leftover old one) fails here, naming the files."""
    require(ESBUILD.exists(), "node_modules is missing (run `npm ci`): the build cannot be checked")
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_assets.py"), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_manifest_names_files_that_exist():
    files = manifest()
    assert {"dashboard.js", "dashboard.css", "chat-widget.js"} <= set(files)
    assert {f"i18n/{p.stem}.json" for p in (resource_dir("static") / "i18n").glob("*.json")} <= set(files)
    for name, file in files.items():
        if name != "sources":
            assert (DIST / file).is_file(), (name, file)
    on_disk = {p.name for p in DIST.iterdir()}
    assert on_disk == {"manifest.json"} | {v for k, v in files.items() if k != "sources"}, "old files left"


@gen_test
async def test_served_widget_is_the_built_file_within_budget(api, tmp_path):
    built = (DIST / "chat-widget.js").read_bytes()
    resp = await api.get("/chat-widget.js")
    assert resp.status == 200
    assert resp.body == built
    assert resp.body.startswith(b"/*! callcenter chat widget")  # its header stays
    assert resp.headers["Content-Type"] in ("text/javascript; charset=UTF-8", "application/javascript; charset=UTF-8")
    # A conditional request for the same bytes is a 304; HEAD says the served length.
    again = await api.get("/chat-widget.js", headers={"If-None-Match": resp.headers["Etag"]})
    assert again.status == 304
    head = await api.request("HEAD", "/chat-widget.js")
    assert int(head.headers["Content-Length"]) == len(built)
    # It parses.
    path = tmp_path / "served.js"
    path.write_bytes(resp.body)
    subprocess.run([require_program("node"), "--check", str(path)], check=True, timeout=60)
    size = len(gzip.compress(resp.body, compresslevel=5, mtime=0))
    assert size <= WIDGET_BUDGET, f"/chat-widget.js is {size:,} bytes gzipped (-5), over {WIDGET_BUDGET:,}"


@gen_test
async def test_cache_headers(api):
    files = manifest()
    # Content-hashed build output: a year, immutable (the name changes with the content).
    for name in ("dashboard.js", "dashboard.css", "i18n/en.json"):
        resp = await api.get("/static/dist/" + files[name])
        assert resp.status == 200, name
        assert resp.headers["Cache-Control"] == IMMUTABLE, name
        assert "Expires" not in resp.headers
    # The widget's URL never changes (customers embed it): five minutes, then revalidated by ETag;
    # still loadable by any site.
    widget = await api.get("/chat-widget.js")
    assert widget.headers["Cache-Control"] == "public, max-age=300"
    assert widget.headers["Etag"]
    assert widget.headers["Access-Control-Allow-Origin"] == "*"
    assert widget.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    # The widget's language packs and lazy part are loaded by other sites' pages too.
    for name in [k for k in files if k.startswith("chat-widget-")]:
        resp = await api.get("/static/dist/" + files[name])
        assert resp.status == 200, name
        assert resp.headers["Cache-Control"] == IMMUTABLE, name
        assert resp.headers["Access-Control-Allow-Origin"] == "*", name
        assert resp.headers["Cross-Origin-Resource-Policy"] == "cross-origin", name
    # HTML is always revalidated (it names the current hashed files).
    for page in ("/", "/widget-demo.html", "/websocket-test.html", "/widget-preview.html"):
        resp = await api.get(page)
        assert resp.status == 200, page
        assert resp.headers["Cache-Control"] == "no-cache", page
    # A file with the ?v= of its current content (static_url) is immutable; a wrong or no version is not.
    page = (await api.get("/")).body.decode()
    icon = re.search(r'href="(/static/icons/icon\.svg\?v=[0-9a-f]+)"', page).group(1)
    assert (await api.get(icon)).headers["Cache-Control"] == IMMUTABLE
    for url in ("/static/icons/icon.svg", "/static/icons/icon.svg?v=0123", "/static/dist/manifest.json",
                "/static/websocket-test.js"):
        resp = await api.get(url)
        assert resp.status == 200, url
        assert resp.headers["Cache-Control"] == "no-cache", url


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.manifest_json: list[str] = []
        self._in_manifest = False

    def handle_starttag(self, tag, attrs) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("id") == "asset-manifest":
            assert a.get("type") == "application/json"
            self._in_manifest = True
        for key in ("src", "href"):
            if tag in ("script", "link") and a.get(key):
                self.urls.append(a[key])

    def handle_data(self, data) -> None:
        if self._in_manifest:
            self.manifest_json.append(data)

    def handle_endtag(self, tag) -> None:
        self._in_manifest = False


@gen_test
async def test_dashboard_page_references_only_files_that_exist(api):
    resp = await api.get("/")
    assert resp.status == 200
    refs = _Refs()
    refs.feed(resp.body.decode())
    files = manifest()
    assert "/static/dist/" + files["dashboard.js"] in refs.urls
    assert "/static/dist/" + files["dashboard.css"] in refs.urls
    assert not [u for u in refs.urls if u.startswith("/static/dashboard")], refs.urls  # the sources are not loaded
    for url in refs.urls:
        got = await api.get(url)
        assert got.status == 200, url
    # The page's own map of built files (read by static/dashboard/i18n.js): every URL there loads.
    page_map = json.loads("".join(refs.manifest_json))
    assert set(page_map) == {k for k in files if k != "sources"}
    for name, url in page_map.items():
        got = await api.get(url)
        assert got.status == 200, (name, url)
    # The CSP lets the bundle run (script-src 'self'), and the JSON block is data, not script.
    assert "script-src 'self';" in resp.headers["Content-Security-Policy"]
