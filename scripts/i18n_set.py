"""Set message-catalogue entries in static/i18n/<lang>.json, all four languages at once.

    python scripts/i18n_set.py dashboard list.empty en="No conversations yet" es="…" fr="…" de="…"
    python scripts/i18n_set.py --from entries.json    # {"dashboard": {"list.empty": {"en": …, "es": …}}}

Sections: common (the same text in the dashboard and the widget), dashboard, widget. Keys are flat
(dots are part of the name); `{name}` marks a placeholder. The files are rewritten sorted, under a
lock, so several people adding keys at once lose none.
"""
from __future__ import annotations

import argparse
import fcntl
import json
import tempfile
from pathlib import Path

CATALOGUES = Path(__file__).resolve().parent.parent / "static" / "i18n"
LANGUAGES = ("en", "es", "fr", "de")
SECTIONS = ("common", "dashboard", "widget")


def set_entries(entries: dict[str, dict[str, dict[str, str]]]) -> None:
    """entries: section -> key -> language -> text."""
    for section, keys in entries.items():
        if section not in SECTIONS:
            raise SystemExit(f"section must be one of {', '.join(SECTIONS)}")
        for key, texts in keys.items():
            missing = [lang for lang in LANGUAGES if not texts.get(lang)]
            if missing:
                raise SystemExit(f"{key}: a text is needed in every language (missing: {', '.join(missing)})")
    with open(Path(tempfile.gettempdir()) / "callcenter-i18n.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for lang in LANGUAGES:
            path = CATALOGUES / f"{lang}.json"
            doc = json.loads(path.read_text(encoding="utf-8"))
            for section, keys in entries.items():
                for key, texts in keys.items():
                    doc.setdefault(section, {})[key] = texts[lang]
            doc = {name: dict(sorted(doc.get(name, {}).items())) for name in SECTIONS}
            path.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", help="a JSON file: section -> key -> language -> text")
    parser.add_argument("section", nargs="?", choices=SECTIONS)
    parser.add_argument("key", nargs="?")
    parser.add_argument("texts", nargs="*", help="lang=text, one per language")
    args = parser.parse_args()
    if args.source:
        set_entries(json.loads(Path(args.source).read_text(encoding="utf-8")))
    elif args.section and args.key:
        set_entries({args.section: {args.key: dict(t.split("=", 1) for t in args.texts)}})
    else:
        parser.error("give section, key and texts, or --from")


if __name__ == "__main__":
    main()
