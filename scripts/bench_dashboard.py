#!/usr/bin/env python3
"""Agent dashboard budget, measured in Chromium against a tenant with 10,000 sessions.

    python scripts/bench_dashboard.py                 # embedded default: SQLite in a throwaway data dir
    python scripts/bench_dashboard.py --backend mysql # a throwaway MariaDB/MySQL database (dropped after)

Budget (docs/BENCHMARKS.md, "Agent dashboard"):
  1. the dashboard is usable (the conversation list rendered) within 1 s of signing in;
  2. a visitor's new message is visible in the open conversation within 50 ms of the send.

What it does:
  - makes a data dir (and a database with --backend mysql), migrates, seeds the demo tenant
    (agent1@callcenter.com), then adds --sessions sessions / --messages messages to that tenant with
    scripts/gen_data.py; starts `callcenter serve` on a free port (one worker; its output in serve.log);
  - sign-in: --runs times, a fresh browser context opens /, fills the form and submits. The page marks
    `cc-login-submit` in its submit handler and `cc-list-rendered` once the first page of the list is in
    the DOM; the time between the two is the number. The login and list requests' own times come from
    the Resource Timing API; the wall time (Playwright's click to the list in the DOM) is shown too;
  - filters and search: time from the click (or the last keystroke, minus the 250 ms input debounce)
    to the new list in the DOM;
  - message latency: a visitor chat is opened in the dashboard; a MutationObserver there records
    Date.now() when each message's element is inserted (and at the next animation frame). The visitor
    sends --messages-latency messages (a) through the REST API from this process (time.time() just
    before the request) and (b) through a visitor WebSocket in another page of the same browser
    (Date.now() just before ws.send). Same machine, same clock;
  - scrolling: "All" (every session) is scrolled to the end, page after page, then a 240-frame scroll
    through everything loaded; reports the page fetch times, animation-frame intervals, long tasks,
    the number of row elements in the DOM and the JS heap.
Everything it creates (server process, data dir, database) is removed at the end unless --keep.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness import DEFAULT_MYSQL_URL, ScratchDatabase, ServeProcess  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]
EMAIL, PASSWORD, TENANT = "agent1@callcenter.com", "Password123!", "demo-tenant"


# ---- stats ------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": pct(values, 50), "p95": pct(values, 95), "p99": pct(values, 99),
            "max": max(values) if values else float("nan"),
            "mean": statistics.fmean(values) if values else float("nan")}


def row(label: str, values: list[float]) -> str:
    s = summary(values)
    cells = " | ".join(f"{s[k]:.1f}" for k in ("p50", "p95", "p99", "max", "mean"))
    return f"| {label} | {s['n']} | {cells} |"


TABLE_HEAD = "| case | n | p50 ms | p95 ms | p99 ms | max ms | mean ms |\n|---|---:|---:|---:|---:|---:|---:|"


# ---- setup ------------------------------------------------------------------------------

def http_json(url: str, body: dict | None = None, token: str | None = None, method: str | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None, headers=headers,
                                 method=method or ("POST" if body is not None else "GET"))
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def prepare_database(url: str) -> None:
    from callcenter import migrations
    from callcenter.demo import seed_demo
    from callcenter.store import Store

    migrations.upgrade(url)

    async def seed():
        store = Store(url)
        try:
            await seed_demo(store)
        finally:
            await store.close()

    asyncio.run(seed())


# ---- measurements -------------------------------------------------------------------------

def measure_login(browser, base: str, runs: int) -> dict:
    in_page, frame, wall, login_req, list_req = [], [], [], [], []
    for _ in range(runs):
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        page.goto(base + "/")
        page.wait_for_selector("#login-form", state="visible")
        page.fill("#login-email", EMAIL)
        page.fill("#login-password", PASSWORD)
        page.fill("#login-tenant", TENANT)
        t0 = time.perf_counter()
        page.click("#login-submit")
        page.wait_for_selector("body[data-list-ready='1']", state="attached", timeout=30_000)
        wall.append((time.perf_counter() - t0) * 1000)
        data = page.evaluate("""() => {
            const at = (name) => performance.getEntriesByName(name)[0].startTime;
            const res = performance.getEntriesByType("resource");
            const pick = (s) => res.filter(r => r.name.includes(s)).map(r => r.duration);
            return new Promise((resolve) => {
                const done = () => resolve({measure: at("cc-list-rendered") - at("cc-login-submit"),
                                            frame: at("cc-list-frame") - at("cc-login-submit"),
                                            login: pick("/api/v1/auth/login"), list: pick("/api/v1/chat/sessions?"),
                                            rows: document.querySelectorAll("#conv-list .row").length});
                if (performance.getEntriesByName("cc-list-frame").length) done();
                else requestAnimationFrame(() => requestAnimationFrame(done));
            });
        }""")
        assert data["rows"] > 0, "no rows rendered"
        in_page.append(data["measure"])
        frame.append(data["frame"])
        login_req += data["login"]
        list_req += data["list"][:1]
        ctx.close()
    return {"in_page": in_page, "frame": frame, "wall": wall, "login_req": login_req, "list_req": list_req}


def sign_in(browser, base: str):
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    page.goto(base + "/")
    page.fill("#login-email", EMAIL)
    page.fill("#login-password", PASSWORD)
    page.fill("#login-tenant", TENANT)
    page.click("#login-submit")
    page.wait_for_selector("#live[data-state='live']", timeout=30_000)
    page.wait_for_selector("body[data-list-ready='1']", state="attached")
    return ctx, page


def list_loads(page) -> int:
    return int(page.evaluate("Number(document.body.dataset.listLoads || 0)"))


TIMING_JS = """() => {
    window.__t = {};
    document.addEventListener("click", () => { window.__t.start = performance.now(); }, true);
    document.getElementById("search").addEventListener("input", () => { window.__t.start = performance.now(); }, true);
    new MutationObserver(() => { window.__t.loaded = performance.now(); })
        .observe(document.body, {attributes: true, attributeFilter: ["data-list-loads"]});
}"""


def measure_filters(page, runs: int) -> dict[str, list[float]]:
    """In the page: from the click (or the keystroke) to the new list in the DOM."""
    page.evaluate(TIMING_JS)
    out: dict[str, list[float]] = {}

    def timed(action, label, extra=0.0, timeout=30_000):
        before = list_loads(page)
        action()
        page.wait_for_function("n => Number(document.body.dataset.listLoads) > n", arg=before, timeout=timeout)
        t = page.evaluate("window.__t")
        if label:
            out.setdefault(label, []).append(t["loaded"] - t["start"] - extra)

    for _ in range(runs):
        for name in ("mine", "unassigned", "resolved", "all", "open"):
            timed(lambda: page.click(f"[data-filter='{name}']"), f"filter {name}")
    for term, label in (("refund", "search, frequent word"), ("zqxjv-no-such-text", "search, no match")):
        for _ in range(max(3, runs // 3)):
            timed(lambda: page.fill("#search", term), label + " (less the 250 ms input debounce)", 250, 120_000)
            timed(lambda: page.fill("#search", ""), None)
    return out


OBSERVER_JS = """() => {
    window.__seen = {};
    const list = document.getElementById("msg-list");
    new MutationObserver((records) => {
        const t = Date.now(), hi = performance.timeOrigin + performance.now();
        for (const r of records) for (const n of r.addedNodes) {
            const body = n.querySelector && n.querySelector(".msg-body");
            if (!body || !body.textContent.startsWith("bench-")) continue;
            const key = body.textContent;
            window.__seen[key] = {dom: t, domHi: hi};
            requestAnimationFrame(() => { window.__seen[key].frame = performance.timeOrigin + performance.now(); });
        }
    }).observe(list, {childList: true});
}"""


def measure_message_latency(browser, page, base: str, count: int) -> dict[str, list[float]]:
    """REST and WebSocket sends interleaved (one of each every ~70 ms), so both see the same conditions."""
    visitor = http_json(base + "/api/v1/chat/public/start", {"tenant_id": TENANT, "customer_name": "Bench Visitor",
                                                              "customer_email": "bench@example.com"})
    sid, vtoken = visitor["session_id"], visitor["token"]
    page.click("[data-filter='open']")
    page.fill("#search", "")
    page.wait_for_selector(f".row[data-id='{sid}']", timeout=10_000)
    page.click(f".row[data-id='{sid}']")
    page.wait_for_selector("#older:text('No messages yet')", timeout=10_000)
    page.evaluate(OBSERVER_JS)
    # The visitor's WebSocket lives in a page of its own (another browser context): the widget's path.
    vctx = browser.new_context()
    vpage = vctx.new_page()
    # A page of the server's origin whose policy allows sockets (JSON answers such as /healthz carry
    # default-src 'none', under which the socket never opens).
    vpage.goto(base + "/websocket-test.html")
    vpage.evaluate("""([url, token]) => new Promise((resolve, reject) => {
        window.__sent = {};
        window.__acks = {};
        window.__errors = [];
        const ws = new WebSocket(url);
        window.__ws = ws;
        ws.onopen = () => ws.send(JSON.stringify({type: "auth", token}));
        ws.onmessage = (ev) => {
            const f = JSON.parse(ev.data);
            if (f.type === "auth.ok") resolve();
            if (f.type === "chat.message.ack") window.__acks[f.data.client_msg_id] = Date.now();
            if (f.type === "error") window.__errors.push(f.data);
        };
        ws.onclose = (ev) => reject(new Error("closed " + ev.code));
    })""", [base.replace("http://", "ws://") + "/ws", vtoken])
    rest_sent: dict[str, float] = {}
    for i in range(count):
        text = f"bench-rest-{i}"
        rest_sent[text] = time.time() * 1000
        http_json(base + "/api/v1/chat/public/message", {"session_id": sid, "message": text}, vtoken)
        time.sleep(0.035)
        vpage.evaluate("""([sid, text]) => {
            window.__sent[text] = Date.now();
            window.__ws.send(JSON.stringify({type: "chat.message.send",
                                             data: {session_id: sid, message: text, client_msg_id: text}}));
        }""", [sid, f"bench-ws-{i}"])
        time.sleep(0.035)  # one frame per ~70 ms: well under the server's 20 frames/s per socket
    try:
        page.wait_for_function("n => Object.keys(window.__seen).length >= n", arg=2 * count, timeout=30_000)
    except Exception:
        raise SystemExit(f"not every message reached the dashboard; visitor socket errors: "
                         f"{vpage.evaluate('window.__errors')}") from None
    page.wait_for_timeout(100)
    seen = page.evaluate("window.__seen")
    ws_sent = vpage.evaluate("window.__sent")
    acks = vpage.evaluate("window.__acks")
    out: dict[str, list[float]] = {"REST send → in the DOM": [], "REST send → next frame": [],
                                   "WS send → in the DOM": [], "WS send → next frame": [],
                                   "WS send → ack back at the visitor (stored)": []}
    for kind, sent in (("REST", rest_sent), ("WS", ws_sent)):
        for text, t0 in sent.items():
            out[f"{kind} send → in the DOM"].append(seen[text]["dom"] - t0)
            if "frame" in seen[text]:
                out[f"{kind} send → next frame"].append(seen[text]["frame"] - t0)
    for text, t0 in ws_sent.items():
        if text in acks:
            out["WS send → ack back at the visitor (stored)"].append(acks[text] - t0)
    dup = page.evaluate("""() => {
        const seqs = [...document.querySelectorAll('#msg-list .msg')].map(e => e.dataset.seq);
        return seqs.length - new Set(seqs).size;
    }""")
    assert dup == 0, f"{dup} duplicate messages in the DOM"
    vctx.close()
    return out


def measure_scroll(page) -> dict:
    page.fill("#search", "")
    before = list_loads(page)
    page.click("[data-filter='all']")
    page.wait_for_function("n => Number(document.body.dataset.listLoads) > n", arg=before)
    page.evaluate("""() => {
        window.__long = [];
        try { new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__long.push(e.duration); })
                .observe({type: "longtask", buffered: false}); } catch (e) {}
    }""")
    t0 = time.perf_counter()
    page_times = []
    last = list_loads(page)
    while True:
        has_more = page.evaluate("""() => { const el = document.getElementById('conv-list');
                                             el.scrollTop = el.scrollHeight;
                                             return document.querySelector('.vlist-footer').textContent; }""")
        if has_more == "End of list":
            break
        t1 = time.perf_counter()
        try:
            page.wait_for_function("n => Number(document.body.dataset.listLoads) > n", arg=last, timeout=30_000)
        except Exception:
            continue
        page_times.append((time.perf_counter() - t1) * 1000)
        last = list_loads(page)
    load_all_s = time.perf_counter() - t0
    frames = page.evaluate("""() => new Promise((resolve) => {
        const el = document.getElementById('conv-list');
        el.scrollTop = 0;
        const step = Math.max(1, Math.floor((el.scrollHeight - el.clientHeight) / 240));
        const times = []; let last = performance.now(); let n = 0;
        function tick(now) {
            times.push(now - last); last = now; el.scrollTop += step;
            if (++n < 240) requestAnimationFrame(tick); else resolve(times.slice(1));
        }
        requestAnimationFrame(tick);
    })""")
    info = page.evaluate("""() => ({rows: document.querySelectorAll('#conv-list .row').length,
                                     count: document.getElementById('list-count').textContent,
                                     heap: performance.memory ? performance.memory.usedJSHeapSize : null,
                                     nodes: document.getElementsByTagName('*').length,
                                     longTasks: window.__long})""")
    return {"page_times": page_times, "load_all_s": load_all_s, "frames": frames, **info}


# ---- main -----------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "mysql"), default="sqlite")
    p.add_argument("--mysql-server",
                   default=os.environ.get("CALLCENTER_TEST_MYSQL", DEFAULT_MYSQL_URL),
                   help="MariaDB/MySQL server URL (a database of our own is created on it, dropped at the end)")
    p.add_argument("--sessions", type=int, default=10_000)
    p.add_argument("--messages", type=int, default=120_000, help="messages over all generated sessions")
    p.add_argument("--runs", type=int, default=15, help="sign-ins (and filter rounds) to time")
    p.add_argument("--messages-latency", type=int, default=100, help="visitor messages per send path")
    p.add_argument("--keep", action="store_true", help="keep the data dir / database")
    args = p.parse_args(argv)

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="cc-bench-dash-"))
    env = {**os.environ, "CALLCENTER_DATA_DIR": str(work / "data"), "PYTHONUNBUFFERED": "1"}
    env.pop("CALLCENTER_REDIS_URL", None)
    database = None
    if args.backend == "mysql":
        database = ScratchDatabase(args.mysql_server, prefix="cc_bench_dash_")
        url = database.create()
        env["CALLCENTER_DATABASE_URL"] = url
        env["CALLCENTER_SECRET_KEY"] = secrets.token_urlsafe(48)
    else:
        (work / "data").mkdir(parents=True)
        url = f"sqlite+aiosqlite:///{work / 'data' / 'callcenter.sqlite3'}"
        env.pop("CALLCENTER_DATABASE_URL", None)
    server = None
    log = open(work / "bench.log", "wb")
    try:
        t0 = time.perf_counter()
        prepare_database(url)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_data.py"), "--database-url", url, "--tenant-id",
                        TENANT, "--sessions", str(args.sessions), "--messages", str(args.messages), "--days", "60",
                        "--seed", "7"], check=True, env=env, stdout=log, stderr=log)
        print(f"data ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
        server = ServeProcess(env, work / "serve.log", start_timeout=60)
        base = server.start().url
        token = http_json(base + "/api/v1/auth/login",
                          {"email": EMAIL, "password": PASSWORD, "tenant_id": TENANT})["token"]
        counts = {}
        for status in ("open", "assigned", "resolved"):
            n, cursor = 0, None
            while True:
                res = http_json(base + f"/api/v1/chat/sessions?status={status}&limit=100"
                                + (f"&cursor={cursor}" if cursor else ""), token=token)
                n += len(res["sessions"])
                cursor = res["next_cursor"]
                if not cursor:
                    break
            counts[status] = n

        load_before = os.getloadavg()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
            measure_login(browser, base, 2)  # warm-up (server caches, Chromium's first context)
            login = measure_login(browser, base, args.runs)
            ctx, page = sign_in(browser, base)
            filters = measure_filters(page, args.runs)
            latency = measure_message_latency(browser, page, base, args.messages_latency)
            scroll = measure_scroll(page)
            ctx.close()
            browser.close()

        chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout.strip()
        load_after = os.getloadavg()
        print(f"### Results ({args.backend}, {sum(counts.values()):,} sessions in {TENANT}: "
              f"{counts['open']:,} open, {counts['assigned']:,} assigned, {counts['resolved']:,} resolved; "
              f"{args.messages:,} generated messages)\n")
        print(f"{chromium}, headless, flags as the e2e tests. Times in ms. Load average (1 min) "
              f"{load_before[0]:.1f} before, {load_after[0]:.1f} after, on {os.cpu_count()} CPUs.\n")
        print(TABLE_HEAD)
        print(row("**sign-in → list rendered** (in page: submit handler → first page in the DOM)", login["in_page"]))
        print(row("sign-in → the frame showing the list (requestAnimationFrame)", login["frame"]))
        print(row("sign-in → list rendered, seen from Playwright (click → selector found)", login["wall"]))
        print(row("  of which POST /auth/login (bcrypt)", login["login_req"]))
        print(row("  of which GET /chat/sessions (first page, 50)", login["list_req"]))
        for label, values in filters.items():
            print(row(label + " → list rendered", values))
        for label, values in latency.items():
            print(row(("**" + label + "**") if label.endswith("DOM") else label, values))
        print(row("scroll: next page of 50 (fetch + render)", scroll["page_times"]))
        print(row("scroll: animation-frame interval over everything loaded", scroll["frames"]))
        print()
        print(f"- Scrolling \"All\" to the end loaded {scroll['count']} conversations in {scroll['load_all_s']:.1f} s "
              f"({len(scroll['page_times'])} pages); the DOM then held {scroll['rows']} row elements "
              f"({scroll['nodes']} elements in all); JS heap {scroll['heap'] / 1e6:.1f} MB; "
              f"{len(scroll['longTasks'])} long tasks (> 50 ms) while loading and scrolling"
              + (f", longest {max(scroll['longTasks']):.0f} ms" if scroll['longTasks'] else "") + ".")
        return 0
    finally:
        if server is not None:
            server.stop()
        log.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if database:
                database.drop()
        else:
            print(f"kept {work}" + (f" and database {database.name}" if database else ""), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
