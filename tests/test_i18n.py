"""The message catalogues (static/i18n/<lang>.json) and the dashboard's use of them (issue 27).

- every key of every section exists in every language, with a non-empty text;
- a key's {placeholders} are the same set in every language;
- every key the dashboard's JS asks for with t("…") exists (in `dashboard` or `common`), and every
  `dashboard` key is asked for somewhere (dynamic keys, t("prefix." + x), count for their prefix; plural
  forms, key.one / key.other, for the key t() is called with).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CATALOGUES = ROOT / "static" / "i18n"
DASHBOARD = ROOT / "static" / "dashboard"
LANGUAGES = ("en", "es", "fr", "de")
SECTIONS = ("common", "dashboard", "widget")
PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")

# Keys used by other means than a t("…") call in the JS (none so far: data-i18n attributes in the templates
# are collected below).
USED_ELSEWHERE: set[str] = set()


def load(lang: str) -> dict:
    return json.loads((CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def catalogues() -> dict[str, dict]:
    return {lang: load(lang) for lang in LANGUAGES}


def test_every_language_has_the_same_keys(catalogues):
    for section in SECTIONS:
        keys = {lang: set(catalogues[lang].get(section, {})) for lang in LANGUAGES}
        for lang in LANGUAGES:
            missing = keys["en"] - keys[lang]
            extra = keys[lang] - keys["en"]
            assert not missing, f"{lang}.json {section}: missing {sorted(missing)}"
            assert not extra, f"{lang}.json {section}: not in en.json {sorted(extra)}"


def test_no_empty_texts_and_sane_keys(catalogues):
    for lang, doc in catalogues.items():
        assert set(doc) <= set(SECTIONS), f"{lang}.json: unknown sections {set(doc) - set(SECTIONS)}"
        for section, entries in doc.items():
            for key, text in entries.items():
                assert KEY_RE.match(key), f"{lang}.json {section}: odd key {key!r}"
                assert isinstance(text, str) and text.strip(), f"{lang}.json {section}.{key} is empty"


def test_placeholders_match_across_languages(catalogues):
    for section in SECTIONS:
        for key, text in catalogues["en"].get(section, {}).items():
            want = set(PLACEHOLDER_RE.findall(text))
            for lang in LANGUAGES[1:]:
                got = set(PLACEHOLDER_RE.findall(catalogues[lang][section][key]))
                assert got == want, f"{section}.{key}: {lang} has {sorted(got)}, en has {sorted(want)}"


def test_translations_are_not_english_copies(catalogues):
    """A guard against a language left in English wholesale (a few words are the same: "Agent", "Status")."""
    for lang in LANGUAGES[1:]:
        entries = catalogues[lang]["dashboard"]
        same = [k for k, v in entries.items() if v == catalogues["en"]["dashboard"][k] and len(v) > 25]
        assert len(same) <= max(3, len(entries) // 50), f"{lang}: long texts identical to English: {same[:10]}"


# ---- the dashboard's JS ----------------------------------------------------------------------------

def _first_argument(source: str, start: int) -> str:
    """The text of a call's first argument, from just after its "(" to the top-level "," or ")"."""
    depth = 0
    i = start
    quote = None
    while i < len(source):
        ch = source[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return source[start:i]
            depth -= 1
        elif ch == "," and depth == 0:
            return source[start:i]
        i += 1
    return source[start:]


CALL_RE = re.compile(r"(?<![\w$])(?<![\w$)\]]\.)t\(")  # t( but not x.t( (…t( is a call)
STRING_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


def js_keys() -> tuple[set[str], set[str], list[str]]:
    """(literal keys, dynamic prefixes, files) from every t(…) call in static/dashboard/**.js."""
    keys: set[str] = set()
    prefixes: set[str] = set()
    files = sorted(DASHBOARD.rglob("*.js"))
    for path in files:
        source = path.read_text(encoding="utf-8")
        # Comments out (a "t(" in prose is not a call); strings stay.
        source = re.sub(r"^\s*//.*$", "", source, flags=re.M)
        source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
        for m in CALL_RE.finditer(source):
            found, found_prefixes = argument_keys(_first_argument(source, m.end()))
            keys |= found
            prefixes |= found_prefixes
    return keys, prefixes, [str(p.relative_to(ROOT)) for p in files]


def argument_keys(arg: str) -> tuple[set[str], set[str]]:
    """The keys a t() argument can produce: its top-level string literals that are a result (t("a"),
    t(x ? "a" : "b")), not an operand of a comparison (x === "admin") or a suffix ("…" + k + ".hint");
    a literal followed by + is a prefix (t("status." + s.status))."""
    keys: set[str] = set()
    prefixes: set[str] = set()
    depth = 0
    for sm in STRING_RE.finditer(arg):
        before = arg[:sm.start()]
        depth = sum(before.count(c) for c in "([{") - sum(before.count(c) for c in ")]}")
        text = sm.group(1)
        if depth or not KEY_RE.match(text):
            continue
        prev = before.rstrip()[-3:]
        rest = arg[sm.end():].lstrip()
        if prev.endswith(("=", "+", "!")) or rest.startswith(("==", "!=")):
            continue
        if rest.startswith("+"):
            prefixes.add(text)
        else:
            keys.add(text)
    return keys, prefixes


def template_keys() -> set[str]:
    """Keys of data-i18n="key" and data-i18n-attr="attr:key;…" in the templates."""
    keys: set[str] = set()
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        keys.update(re.findall(r'data-i18n="([^"]+)"', text))
        for spec in re.findall(r'data-i18n-attr="([^"]+)"', text):
            for pair in spec.split(";"):
                if ":" in pair:
                    keys.add(pair.split(":", 1)[1].strip())
    return keys


def _plural_base(key: str) -> str | None:
    base, _, last = key.rpartition(".")
    return base if base and last in PLURAL_CATEGORIES else None


def test_every_key_the_dashboard_asks_for_exists(catalogues):
    keys, _prefixes, files = js_keys()
    assert any(f.endswith("i18n.js") for f in files)
    assert len(keys) > 100, "the t() scan found almost nothing: has the call syntax changed?"
    en = catalogues["en"]
    known = set(en["dashboard"]) | set(en["common"])
    plural_bases = {b for b in map(_plural_base, known) if b}
    missing = sorted(k for k in keys | template_keys() if k not in known and k not in plural_bases)
    assert not missing, f"t() keys with no text in static/i18n/en.json (dashboard or common): {missing}"


def test_every_dashboard_key_is_used(catalogues):
    keys, prefixes, _files = js_keys()
    used = keys | template_keys() | USED_ELSEWHERE
    unused = []
    for key in catalogues["en"]["dashboard"]:
        if key in used or any(key.startswith(p) for p in prefixes):
            continue
        base = _plural_base(key)
        if base and (base in used or any(base.startswith(p) for p in prefixes)):
            continue
        unused.append(key)
    assert not unused, f"dashboard keys nothing asks for (remove them, or list them in USED_ELSEWHERE): {sorted(unused)}"


def test_the_scanner_sees_literal_ternary_and_dynamic_keys():
    source = ('x = t(a ? "one.key" : "two.key", {n: t("inner.key")}); y = t("pre." + z); w = fmt(t);'
              ' v = [...t("spread.key").split("")]; u = obj.t("not.a.key");'
              ' r = t(role === "admin" ? "role.admin" : "role.agent"); q = t("pf." + k + ".hint");'
              ' c = t("color." + n.replace(/ /g, "_"));')
    keys: set[str] = set()
    prefixes: set[str] = set()
    for m in CALL_RE.finditer(source):
        found, found_prefixes = argument_keys(_first_argument(source, m.end()))
        keys |= found
        prefixes |= found_prefixes
    assert keys == {"one.key", "two.key", "inner.key", "spread.key", "role.admin", "role.agent"}
    assert prefixes == {"pre.", "pf.", "color."}
