#!/usr/bin/env python3
"""Lighthouse (npm, run with Debian's Chromium) on the signed-in dashboard and the widget's demo page.

    python scripts/lighthouse.py                              # both pages, mobile (default) and desktop
    python scripts/lighthouse.py --pages widget --form-factors mobile --runs 3 --out lh-reports

What it does:
1. Starts `callcenter serve` on the embedded default (SQLite, demo seeded) in a temp data dir on a free
   port (stopped by its PID at the end), and makes one conversation through the REST API (a visitor
   writes, agent1 takes it and answers) so the dashboard has one to show.
2. Signs agent1 in once with Playwright in a Chromium profile of its own (a temp --user-data-dir),
   with "Keep me signed in": the dashboard keeps its token in that profile's localStorage. Nothing is
   added to the product for this: Lighthouse then opens the dashboard in the same profile
   (--chrome-flags="--user-data-dir=…", --disable-storage-reset so it does not clear the token), at
   /?session=<id>, the conversation open.
3. Runs node_modules/.bin/lighthouse (CHROME_PATH=/usr/bin/chromium, --chrome-flags="--headless=new
   --no-sandbox") per page and form factor: mobile = Lighthouse's default (Moto G Power emulation,
   simulated slow 4G and 4x CPU slowdown), desktop = --preset=desktop. The widget page is
   /widget-demo.html with a fresh profile (the bubble, closed). Categories: accessibility,
   best-practices, performance.
4. Prints the scores (the median over --runs), the key performance metrics and every audit of
   accessibility / best practices that did not pass; keeps the HTML and JSON reports and the final
   screenshot in --out (default: test-artifacts/lighthouse/). --json writes the summary.
Exit status 0 when the targets hold (accessibility and best practices 100, performance >= 95 on
mobile), 1 otherwise; --no-check always 0.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import ServeProcess, embedded_env  # noqa: E402

CHROMIUM = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CHROME_FLAGS = "--headless=new --no-sandbox"
CATEGORIES = ("accessibility", "best-practices", "performance")
METRICS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "cumulative-layout-shift",
           "speed-index", "interactive")
TARGETS = {"accessibility": 100, "best-practices": 100}
PERF_TARGET_MOBILE = 95
ATTEMPTS = 3


def machine_info(lighthouse: str) -> dict:
    info = {"nproc": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}
    try:
        info["cpu"] = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                            if line.startswith("model name")), "")
        info["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    for key, argv in (("chromium", [CHROMIUM, "--version"]), ("lighthouse", [lighthouse, "--version"]),
                      ("node", ["node", "--version"])):
        try:
            info[key] = subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info[key] = "?"
    return info


def prepare(base: str, profile: Path) -> str:
    """A conversation on the server and agent1 signed in (remembered) in `profile`; the session id."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_FLAGS
    from tests.e2e.dashboard_support import Visitor, agent_token, call, login

    token = agent_token(base)
    visitor = Visitor(base, name="Lena Lighthouse", email="lena@example.com")
    visitor.send("Hi! Can I still change the size of my order #4411?")
    call(base, "POST", f"/chat/sessions/{visitor.session_id}/assign", {}, token)
    call(base, "POST", "/chat/messages", {"session_id": visitor.session_id,
                                          "message": "Of course, which size would you like instead?"}, token)
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(str(profile), executable_path=CHROMIUM, headless=True,
                                                        args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 800})
        try:
            page = context.pages[0] if context.pages else context.new_page()
            login(page, base, remember=True)
        finally:
            context.close()
    return visitor.session_id


def run_lighthouse(lighthouse: str, url: str, out_base: Path, form_factor: str, profile: Path | None) -> dict:
    flags = CHROME_FLAGS + (f" --user-data-dir={profile}" if profile else "")
    argv = [lighthouse, url, "--output=json", "--output=html", f"--output-path={out_base}",
            f"--only-categories={','.join(CATEGORIES)}", f"--chrome-flags={flags}", "--quiet"]
    if form_factor == "desktop":
        argv.append("--preset=desktop")
    if profile:
        argv.append("--disable-storage-reset")
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    report_path = Path(f"{out_base}.report.json")
    for attempt in range(1, ATTEMPTS + 1):
        report_path.unlink(missing_ok=True)
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
        if proc.returncode == 0 and report_path.exists():
            break
        # Lighthouse's own transient failures (e.g. NO_NAVSTART: the trace missed the navigation) on a
        # busy machine: run again, as its message says.
        print(f"  lighthouse failed ({proc.returncode}), attempt {attempt}/{ATTEMPTS}: "
              f"{proc.stderr.strip().splitlines()[-1:] }", file=sys.stderr, flush=True)
    else:
        raise RuntimeError(f"lighthouse failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    report = json.loads(report_path.read_text())
    shot = report["audits"].get("final-screenshot", {}).get("details", {}).get("data", "")
    if shot.startswith("data:image/jpeg;base64,"):
        Path(f"{out_base}.final.jpg").write_bytes(base64.b64decode(shot.split(",", 1)[1]))
    return report


def summarize(report: dict) -> dict:
    cats = report["categories"]
    out = {"scores": {c: round((cats[c]["score"] or 0) * 100) for c in CATEGORIES if c in cats},
           "metrics": {m: report["audits"][m].get("displayValue", "") for m in METRICS if m in report["audits"]},
           "failed": {}, "final_url": report.get("finalDisplayedUrl") or report.get("finalUrl"),
           "warnings": report.get("runWarnings", [])}
    for cat in ("accessibility", "best-practices"):
        if cat not in cats:
            continue
        failed = []
        for ref in cats[cat]["auditRefs"]:
            audit = report["audits"][ref["id"]]
            if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
                items = (audit.get("details") or {}).get("items") or []
                nodes = [(item.get("node") or {}).get("selector") or item.get("description") or item.get("source", {})
                         for item in items[:5]]
                failed.append({"id": ref["id"], "title": audit["title"], "items": [str(n) for n in nodes]})
        out["failed"][cat] = failed
    perf = report["audits"]
    out["perf_opportunities"] = [perf[r["id"]]["title"] for r in cats.get("performance", {}).get("auditRefs", [])
                                 if perf.get(r["id"], {}).get("score") is not None and perf[r["id"]]["score"] < 0.9
                                 and r.get("weight", 0) > 0]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", nargs="+", choices=("dashboard", "widget"), default=["dashboard", "widget"])
    ap.add_argument("--form-factors", nargs="+", choices=("mobile", "desktop"), default=["mobile", "desktop"])
    ap.add_argument("--runs", type=int, default=1, help="runs per page and form factor (median score)")
    ap.add_argument("--lighthouse", default=str(ROOT / "node_modules" / ".bin" / "lighthouse"))
    ap.add_argument("--out", type=Path, default=ROOT / "test-artifacts" / "lighthouse")
    ap.add_argument("--json", type=Path, help="write the summary here")
    ap.add_argument("--no-check", action="store_true", help="exit 0 whatever the scores")
    args = ap.parse_args()
    if not Path(args.lighthouse).exists():
        print(f"no Lighthouse at {args.lighthouse}: run `npm ci` first", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    tmp = Path(tempfile.mkdtemp(prefix="cc-lighthouse-"))
    results = []
    server = ServeProcess(embedded_env(tmp / "data"), tmp / "serve.log")
    try:
        (tmp / "data").mkdir()
        server.start()
        base = server.url
        profile = tmp / "agent-profile"
        sid = prepare(base, profile) if "dashboard" in args.pages else None
        for page in args.pages:
            url = f"{base}/?session={sid}" if page == "dashboard" else f"{base}/widget-demo.html"
            for ff in args.form_factors:
                runs = []
                for i in range(args.runs):
                    name = f"{page}-{ff}" + (f"-{i + 1}" if args.runs > 1 else "")
                    report = run_lighthouse(args.lighthouse, url, args.out / name, ff,
                                            profile if page == "dashboard" else None)
                    runs.append(summarize(report))
                    print(f"  {name}: {runs[-1]['scores']}", flush=True)
                scores = {c: statistics.median(r["scores"][c] for r in runs) for c in runs[0]["scores"]}
                results.append({"page": page, "form_factor": ff, "url": url.replace(base, ""), "scores": scores,
                                "runs": runs})
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    ok = True
    print(f"\nLighthouse on callcenter ({started:%Y-%m-%d %H:%M} UTC), median of {args.runs} run(s); reports in {args.out}")
    print(f"{'page':<11}{'form':<9}{'a11y':>6}{'best-pr':>9}{'perf':>6}   metrics")
    for r in results:
        s = r["scores"]
        m = r["runs"][-1]["metrics"]
        print(f"{r['page']:<11}{r['form_factor']:<9}{s.get('accessibility', 0):>6g}{s.get('best-practices', 0):>9g}"
              f"{s.get('performance', 0):>6g}   FCP {m.get('first-contentful-paint')}, LCP "
              f"{m.get('largest-contentful-paint')}, TBT {m.get('total-blocking-time')}, CLS "
              f"{m.get('cumulative-layout-shift')}, SI {m.get('speed-index')}")
        for cat, target in TARGETS.items():
            ok &= s.get(cat, 0) >= target
        if r["form_factor"] == "mobile":
            ok &= s.get("performance", 0) >= PERF_TARGET_MOBILE
        last = r["runs"][-1]
        for cat, failed in last["failed"].items():
            for f in failed:
                print(f"    {cat}: {f['id']} — {f['title']}" + (f"  {f['items']}" if f["items"] else ""))
        if last["perf_opportunities"]:
            print(f"    performance below 0.9: {', '.join(last['perf_opportunities'])}")
        for w in last["warnings"]:
            print(f"    warning: {w}")
    machine = machine_info(args.lighthouse)
    print(f"machine: {machine}")
    if args.json:
        args.json.write_text(json.dumps({"date": started.isoformat(), "machine": machine, "runs": args.runs,
                                         "results": results}, indent=2))
    print("targets (a11y 100, best practices 100, mobile performance >= 95):", "met" if ok else "NOT met")
    return 0 if ok or args.no_check else 1


if __name__ == "__main__":
    sys.exit(main())
