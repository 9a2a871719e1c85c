"""The chat widget's built pieces besides /chat-widget.js (scripts/build_assets.py, build_widget): a pack per
language other than English (static/dist/chat-widget-<lang>.<hash>.js) and the lazily loaded part
(static/dist/chat-widget-extra.<hash>.js). Each registers through CallCenterChat._add and nothing else; every
pack has every text the widget and its extra part use; both are ASCII (served from /static/ without a charset)
and cached for good; the widget names exactly these files."""
from __future__ import annotations

import json
import subprocess

import pytest

from callcenter.paths import resource_dir

from .helpers import require_program

DIST = resource_dir("static") / "dist"
IMMUTABLE = "public, max-age=31536000, immutable"
# Runs each file given with a CallCenterChat that records what is registered (a function as "function").
RUN = """
const vm = require("vm"), fs = require("fs"), out = [];
const sandbox = {CallCenterChat: {_add: (name, value) => out.push([name, typeof value === "function" ? "function" : value])}};
vm.createContext(sandbox);
for (const file of process.argv.slice(1)) vm.runInContext(fs.readFileSync(file, "utf8"), sandbox);
process.stdout.write(JSON.stringify({out, globals: Object.keys(sandbox)}));
"""

gen_test = pytest.mark.gen_test(timeout=60)


@pytest.fixture
def backend():
    return "sqlite"


def pieces() -> dict[str, str]:
    files = json.loads((DIST / "manifest.json").read_text(encoding="utf-8"))
    return {name: file for name, file in files.items() if name.startswith("chat-widget-")}


def test_packs_and_extra_part_register_through_the_hook_only():
    files = pieces()
    langs = sorted(p.stem for p in (resource_dir("static") / "i18n").glob("*.json") if p.stem != "en")
    assert sorted(files) == sorted([f"chat-widget-{lang}.js" for lang in langs] + ["chat-widget-extra.js"])
    paths = [str(DIST / files[name]) for name in sorted(files)]
    for path in paths:
        (DIST / path).read_bytes().decode("ascii")  # ASCII only (\\u escapes)
    proc = subprocess.run([require_program("node"), "-e", RUN, *paths], capture_output=True, text=True, timeout=60,
                          check=True)
    result = json.loads(proc.stdout)
    assert result["globals"] == ["CallCenterChat"]  # nothing else defined
    registered = dict(result["out"])
    assert registered.pop("extra") == "function"
    assert sorted(registered) == langs
    # Every pack has the same keys: every text of the widget and its extra part (none missing, none extra).
    en = json.loads((resource_dir("static") / "i18n" / "en.json").read_text(encoding="utf-8"))
    code = "".join((resource_dir("static") / name).read_text(encoding="utf-8")
                   for name in ("chat-widget.js", "chat-widget-extra.js"))
    used = sorted(k for k in {**en["common"], **en["widget"]} if f'"{k}"' in code)
    for lang, texts in registered.items():
        assert sorted(texts) == used, lang
    # The widget names exactly these files.
    widget = (DIST / "chat-widget.js").read_text(encoding="utf-8")
    for name, file in files.items():
        assert f'"{file}"' in widget, name


@gen_test
async def test_packs_and_extra_part_are_served_immutable(api):
    for name, file in pieces().items():
        resp = await api.get("/static/dist/" + file)
        assert resp.status == 200, name
        assert resp.headers["Cache-Control"] == IMMUTABLE, name
        assert "javascript" in resp.headers["Content-Type"], name
