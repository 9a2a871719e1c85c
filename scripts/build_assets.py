#!/usr/bin/env python3
"""Build the front end's served files into static/dist/ with esbuild (from node_modules: `npm ci` first).

    python scripts/build_assets.py           # build; static/dist/ then holds only the current files
    python scripts/build_assets.py --check   # build into a temp dir and compare with static/dist/ (exit 1
                                             # naming the files that differ: a source edited, no rebuild)

What it writes (committed, so `pip install` and `callcenter serve` never need Node):
  - chat-widget.js: static/chat-widget.js, minified (IIFE, es2019), its `/*! … */` header kept, its English
    texts, style sheet and the names of its other pieces defined in (build_widget() below). Served at
    /chat-widget.js under a fixed name (customers embed that URL).
  - chat-widget-<lang>.<hash>.js (the widget's other languages) and chat-widget-extra.<hash>.js (its lazily
    loaded part), which the widget loads from /static/dist/ when needed.
  - dashboard.<hash>.js: static/dashboard/main.js and everything it imports (the settings pages' dynamic
    imports too), one minified ES module.
  - dashboard.<hash>.css: dashboard.css + dashboard/settings.css + dashboard/settings-pages.css, minified.
  - i18n-<lang>.<hash>.json: each message catalogue's "common" and "dashboard" sections, compact (the
    dashboard fetches its language's).
  - manifest.json: logical name -> file name in static/dist/ ("dashboard.js", "dashboard.css",
    "chat-widget.js", "chat-widget-<lang>.js", "chat-widget-extra.js", "i18n/<lang>.json"), and under
    "sources" the SHA-256 of every file the build read (the server warns in a development checkout when one
    of them changed since the build).
<hash> is the first 12 hex digits of the file's SHA-256, so a changed file gets a new name and the old one
can be cached for a year (callcenter/handlers/pages.py serves static/dist/<name>.<hash>.<ext> immutable).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
DIST = STATIC / "dist"
I18N = STATIC / "i18n"
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
WIDGET_SOURCE = "static/chat-widget.js"
DASHBOARD_ENTRY = "static/dashboard/main.js"
DASHBOARD_CSS = ["static/dashboard.css", "static/dashboard/settings.css", "static/dashboard/settings-pages.css"]
WIDGET_TARGET = "es2019"  # the widget runs on customers' pages: lowered where newer syntax is used
DASHBOARD_TARGET = "es2020"  # ES modules, dynamic import, ?. and ??: every browser that runs modules today
HASH_LEN = 12


class BuildError(Exception):
    pass


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hashed_name(stem: str, ext: str, data: bytes) -> str:
    return f"{stem}.{sha256(data)[:HASH_LEN]}.{ext}"


def check_esbuild() -> None:
    """node_modules has the esbuild package.json pins (another version could write other bytes)."""
    if not ESBUILD.exists():
        raise BuildError(f"{ESBUILD.relative_to(ROOT)} is missing: run `npm ci` in {ROOT}")
    wanted = json.loads((ROOT / "package.json").read_text())["devDependencies"]["esbuild"]
    installed = json.loads((ROOT / "node_modules" / "esbuild" / "package.json").read_text())["version"]
    if installed != wanted:
        raise BuildError(f"node_modules has esbuild {installed}, package.json pins {wanted}: run `npm ci`")


def esbuild(args: list[str], stdin: str | None = None) -> list[str]:
    """Run esbuild in the repository root; returns the input files it read (repository-relative)."""
    with tempfile.TemporaryDirectory(prefix="cc-esbuild-") as tmp:
        meta = Path(tmp) / "meta.json"
        proc = subprocess.run([str(ESBUILD), *args, f"--metafile={meta}", "--log-level=warning"], cwd=ROOT,
                              input=stdin, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise BuildError(f"esbuild {' '.join(args[:1])} failed:\n{proc.stderr}{proc.stdout}")
        if proc.stderr.strip():
            print(proc.stderr.rstrip(), file=sys.stderr)  # warnings: shown, not fatal
        inputs = json.loads(meta.read_text())["inputs"]
    return sorted(name for name in inputs if not name.startswith("<"))


def catalogues() -> dict[str, dict]:
    """static/i18n/<lang>.json by language (en first)."""
    langs = sorted(p.stem for p in I18N.glob("*.json"))
    if "en" not in langs:
        raise BuildError(f"{I18N.relative_to(ROOT)}/en.json is missing")
    langs.remove("en")
    return {lang: json.loads((I18N / f"{lang}.json").read_text(encoding="utf-8")) for lang in ["en", *langs]}


def build(out: Path) -> dict:
    """Every output file into `out` (an empty directory); returns the manifest (also written there)."""
    check_esbuild()
    cats = catalogues()
    sources: set[str] = {f"static/i18n/{lang}.json" for lang in cats}
    manifest: dict[str, str] = {}

    # The widget (its language packs and lazily loaded part too): build_widget() below.
    sources.update(build_widget(out, cats, manifest))

    # The dashboard: one ES module (dynamic imports inlined: no splitting), then named by its hash.
    tmp_js = out / "dashboard.js"
    sources.update(esbuild([DASHBOARD_ENTRY, "--bundle", "--format=esm", "--minify", f"--target={DASHBOARD_TARGET}",
                            f"--outfile={tmp_js}"]))
    manifest["dashboard.js"] = _rename_hashed(tmp_js, "dashboard", "js")

    # Its style sheets as one (an @import entry on stdin, resolved from the repository root).
    tmp_css = out / "dashboard.css"
    entry = "".join(f'@import "./{path}";\n' for path in DASHBOARD_CSS)
    sources.update(esbuild(["--bundle", "--loader=css", "--minify", "--sourcefile=<stdin>",
                            "--external:/static/*", f"--outfile={tmp_css}"], stdin=entry))
    manifest["dashboard.css"] = _rename_hashed(tmp_css, "dashboard", "css")

    # The dashboard's catalogues ({"common", "dashboard"}: the widget's texts are in its script), compact,
    # under hashed names (the dashboard fetches its language's; cached for a year).
    for lang, cat in cats.items():
        dashboard = {section: cat.get(section, {}) for section in ("common", "dashboard")}
        data = (json.dumps(dashboard, ensure_ascii=False, separators=(",", ":"), sort_keys=True) + "\n").encode()
        name = hashed_name(f"i18n-{lang}", "json", data)
        (out / name).write_bytes(data)
        manifest[f"i18n/{lang}.json"] = name

    document = dict(sorted(manifest.items()))
    document["sources"] = {path: sha256((ROOT / path).read_bytes())[:16] for path in sorted(sources)}
    (out / "manifest.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return document


# ---- the chat widget (the widget part's) -------------------------------------------------------------------
WIDGET_EXTRA = "static/chat-widget-extra.js"
WIDGET_CSS = "static/chat-widget.css"
WIDGET_EXTRA_CSS = "static/chat-widget-extra.css"


def build_widget(out: Path, cats: dict[str, dict], manifest: dict[str, str]) -> set[str]:
    """The chat widget, in pieces so that what every page loads stays small (tests/test_assets.py's budget):
      - chat-widget.js (served at /chat-widget.js): static/chat-widget.js, one IIFE with `__WIDGET_STRINGS__` the
        English texts, `__WIDGET_CSS__` static/chat-widget.css minified, `__WIDGET_PACKS__` {lang: file} and
        `__WIDGET_EXTRA__` the file of the lazy part; its `/*! … */` header first, above esbuild's wrapper.
      - chat-widget-<lang>.<hash>.js for every other language: `CallCenterChat._add("<lang>", {key: text})`.
      - chat-widget-extra.<hash>.js: static/chat-widget-extra.js (files, rating, transcript), one IIFE with
        `__WIDGET_CSS__` static/chat-widget-extra.css minified; it registers through the same hook.
    The texts are the catalogues' `common` + `widget` sections (widget's win), only the keys the scripts mention
    as a quoted string literal (`common` holds dashboard-only texts too): a pack has those of both scripts, the
    lazy part (`__WIDGET_STRINGS__` there too) the English ones that only it mentions. The packs and the lazy part
    are ASCII (\\u escapes): /static/ does not say their charset, and a host page's own could differ.
    Returns the files read."""
    main = (ROOT / WIDGET_SOURCE).read_text(encoding="utf-8")
    lazy = (ROOT / WIDGET_EXTRA).read_text(encoding="utf-8")

    def texts(cat: dict, code: str, but: str = "") -> dict:
        both = {**cat.get("common", {}), **cat.get("widget", {})}
        return {key: text for key, text in sorted(both.items()) if f'"{key}"' in code and f'"{key}"' not in but}

    def minified_css(path: str) -> tuple[str, list[str]]:
        target = out / ".widget.css"
        read = esbuild([path, "--minify", "--charset=utf8", f"--outfile={target}"])
        css = target.read_text(encoding="utf-8").strip()
        target.unlink()
        return css, read

    sources: set[str] = set()
    packs: dict[str, str] = {}
    for lang, cat in cats.items():
        if lang == "en":
            continue
        data = f"CallCenterChat._add({json.dumps(lang)},{json.dumps(texts(cat, main + lazy), separators=(',', ':'))});\n".encode()
        packs[lang] = manifest[f"chat-widget-{lang}.js"] = hashed_name(f"chat-widget-{lang}", "js", data)
        (out / packs[lang]).write_bytes(data)

    css, read = minified_css(WIDGET_EXTRA_CSS)
    sources.update(read)
    tmp_js = out / "chat-widget-extra.js"
    sources.update(esbuild([WIDGET_EXTRA, "--bundle", "--format=iife", "--minify", f"--target={WIDGET_TARGET}",
                            "--legal-comments=none", "--define:__WIDGET_CSS__=" + json.dumps(css),
                            "--define:__WIDGET_STRINGS__=" + json.dumps(texts(cats["en"], lazy, main), sort_keys=True),
                            f"--outfile={tmp_js}"]))
    extra = manifest["chat-widget-extra.js"] = _rename_hashed(tmp_js, "chat-widget-extra", "js")

    css, read = minified_css(WIDGET_CSS)
    sources.update(read)
    header = re.match(r"\s*(/\*![^*]*(?:\*(?!/)[^*]*)*\*/)", (ROOT / WIDGET_SOURCE).read_text(encoding="utf-8"))
    banner = ["--banner:js=" + header.group(1), "--legal-comments=none"] if header else ["--legal-comments=inline"]
    defines = {"__WIDGET_STRINGS__": texts(cats["en"], main), "__WIDGET_CSS__": css, "__WIDGET_PACKS__": packs,
               "__WIDGET_EXTRA__": extra}
    sources.update(esbuild([WIDGET_SOURCE, "--bundle", "--format=iife", "--minify", f"--target={WIDGET_TARGET}",
                            "--charset=utf8", *banner,
                            *(f"--define:{name}={json.dumps(value, ensure_ascii=False, sort_keys=True)}"
                              for name, value in defines.items()),
                            f"--outfile={out / 'chat-widget.js'}"]))
    manifest["chat-widget.js"] = "chat-widget.js"
    return sources


def _rename_hashed(path: Path, stem: str, ext: str) -> str:
    name = hashed_name(stem, ext, path.read_bytes())
    path.rename(path.with_name(name))
    return name


def compare(built: Path, committed: Path) -> list[str]:
    """What differs between two dist folders, one line per file."""
    new = {p.name for p in built.iterdir() if p.is_file()}
    old = {p.name for p in committed.iterdir() if p.is_file()} if committed.is_dir() else set()
    problems = [f"missing from {committed.relative_to(ROOT)}: {name}" for name in sorted(new - old)]
    problems += [f"stale (not built from the current sources): {name}" for name in sorted(old - new)]
    problems += [f"differs from its sources: {name}" for name in sorted(new & old)
                 if (built / name).read_bytes() != (committed / name).read_bytes()]
    return problems


def install(built: Path) -> list[str]:
    """Copy the new build into static/dist/: new files first, the manifest next, old files last (a running
    server never reads a manifest naming a file that is not there yet). Returns the removed names."""
    DIST.mkdir(exist_ok=True)
    names = sorted((p.name for p in built.iterdir() if p.is_file()), key=lambda n: n == "manifest.json")
    for name in names:
        target = DIST / name
        data = (built / name).read_bytes()
        if target.exists() and target.read_bytes() == data:
            continue
        tmp = DIST / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, target)
    removed = []
    for path in sorted(DIST.iterdir()):
        if path.name not in names:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
            removed.append(path.name)
    return removed


@contextlib.contextmanager
def build_lock():
    """One build at a time per checkout (several shells may rebuild while sources are edited)."""
    lock_path = Path(tempfile.gettempdir()) / f"callcenter-build-assets-{sha256(str(ROOT).encode())[:12]}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def size_report(folder: Path, manifest: dict) -> str:
    rows = []
    for logical, name in manifest.items():
        if logical == "sources":
            continue
        data = (folder / name).read_bytes()
        rows.append(f"  {name:<40} {len(data):>9,} B  gzip -5 {len(gzip.compress(data, 5, mtime=0)):>8,} B")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="build into a temp dir and compare with static/dist/ (exit 1 on a difference)")
    parser.add_argument("--quiet", action="store_true", help="no size table")
    args = parser.parse_args(argv)
    try:
        with build_lock(), tempfile.TemporaryDirectory(prefix="cc-assets-") as tmp:
            built = Path(tmp)
            manifest = build(built)
            if args.check:
                problems = compare(built, DIST)
                if problems:
                    print("static/dist/ does not match its sources; run `python scripts/build_assets.py` and "
                          "commit static/dist/:", file=sys.stderr)
                    for line in problems:
                        print("  " + line, file=sys.stderr)
                    return 1
                print("static/dist/ matches its sources")
                return 0
            removed = install(built)
            if not args.quiet:
                print(f"built into {DIST.relative_to(ROOT)}/:\n" + size_report(DIST, manifest))
                if removed:
                    print("removed: " + ", ".join(removed))
            return 0
    except BuildError as exc:
        print(f"build_assets: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
