#!/usr/bin/env python3
"""Fill one tenant with a realistic volume of support conversations, fast.

    CALLCENTER_DATABASE_URL=mysql+aiomysql://root@127.0.0.1:3306/cc_bench \\
        python scripts/gen_data.py --migrate --sessions 100000 --messages 2000000

What it writes (all in one tenant, created when missing, reused otherwise):

- a handful of agents (reused when the tenant already has some);
- visitors: one per conversation, except returning customers (about 15%) who
  come back under the same visitor;
- sessions spread over the last --days days, newest mostly open/assigned, older
  ones mostly resolved; assigned ones spread (unevenly) over the agents;
- messages: a long-tailed number per session (median ~12, a few hundred in the
  longest), seq 1..n with no gaps, visitor / agent / AI / system senders, bodies
  of varied length, many carrying a client_msg_id as the widget sends them.
  Message ids grow with time across all sessions, as they do in production.

Every session's denormalized columns (last_seq, updated_at_ms,
last_message_preview, last_message_sender, agent_read_seq, agent_unread,
waiting_since_ms, visitor_read_seq, resolved_at_ms) are computed from its
messages with the store's own rules, so the product sees a consistent history.
`--verify` checks that afterwards with SQL.

Speed: a synchronous driver (PyMySQL, or sqlite3 for a sqlite URL) runs
executemany on batches, which PyMySQL sends as multi-row INSERTs of about 1 MB.
On MySQL/MariaDB the loading connection sets unique_checks=0 and
foreign_key_checks=0 (session variables only, gone with the connection).
When the tables are empty the whole load is one transaction: MariaDB (10.7+)
then bulk-loads into empty InnoDB tables (table lock, one undo record, indexes
built sorted at commit), which is several times faster than row-by-row index
maintenance. Otherwise it commits every --commit-every rows. ALTER TABLE ...
DISABLE KEYS is not used: InnoDB ignores it.
"""
from __future__ import annotations

import argparse
import heapq
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from callcenter import migrations  # noqa: E402
from callcenter.domain import preview_of  # noqa: E402
from callcenter.store import agents, messages, sessions, tenants, visitors  # noqa: E402

DAY_MS = 86_400_000

FIRST = ("Maria James Priya Tom Aisha Lukas Sofia Chen Olga Diego Fatima Noah Emma Liam Yuki Omar Hannah "
         "Mateo Chloe Ivan Zara Kofi Elena Raj Mia Arjun Nora Felix Leila Hugo Ingrid Pedro Amara Jonas Lina "
         "Ahmed Grace Tariq Julia Marco Sara Kenji Ava Bruno Nadia Oscar Ines Samuel Freya Ali Clara Viktor "
         "Rosa Daniel Maya Pablo Aiko Ethan Lucia").split()
LAST = ("Lopez Carter Shah Becker Khan Muller Rossi Wang Ivanova Garcia Hassan Smith Johnson Brown Tanaka Ali "
        "Schmidt Fernandez Martin Petrov Ahmed Mensah Popescu Patel Nguyen Kumar Larsen Weber Haddad Dubois "
        "Nilsson Silva Okafor Berg Novak Hughes Kowalski Moreau Santos Costa Yamamoto Clark Lewis Rahman "
        "Jensen Fischer Romero Olsen Murphy Kelly Walsh Ortiz Bianchi Sato Kim Park Lee Chang Reyes Morales").split()
DOMAINS = ("example.com example.org mail.example.net shop.example.io inbox.example.co corp.example.com "
           "example.de example.fr").split()
CHANNELS = ["web"] * 16 + ["mobile"] * 3 + ["email"]
PAGES = ("/", "/cart", "/checkout", "/orders", "/orders/track", "/products/running-shoes", "/products/jackets",
         "/help/returns", "/help/shipping", "/account", "/account/billing", "/sale")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
)
AGENT_NAMES = ("Alex Morgan", "Sam Rivera", "Jordan Lee", "Taylor Brooks", "Casey Kim", "Robin Diaz",
               "Jamie Fox", "Morgan Ellis", "Drew Patel", "Quinn Adams", "Riley Chen", "Avery Stone")

VISITOR_LINES = (
    "Hi! I ordered a pair of running shoes on Monday and the tracking hasn't updated since.",
    "Order number is #{n}.", "Can I change the delivery address on my order?", "Do you ship to Canada?",
    "My discount code SPRING{k} says it's expired.", "What are your opening hours on weekends?", "Thanks!",
    "ok", "Still waiting on this one, any news?", "The size M is too small, can I swap it for an L?",
    "I was charged twice for order #{n}, could you check please?", "Is the blue jacket coming back in stock?",
    "How long does a refund usually take to show up on my card?", "yes", "no, that's not it",
    "I tried that already and it still shows the same error on the checkout page when I press pay.",
    "Perfect, that works now. Thank you so much for your help today!",
    "Hello? Is anyone there?", "The parcel says delivered but there is nothing at my door or with my neighbours.",
    "Can you send me an invoice with my company's VAT number on it? It's DE{n}{k}.",
)
AGENT_LINES = (
    "Hi {name}, thanks for reaching out! Let me look into that for you.",
    "Could you share your order number, please?", "I've checked order #{n}: it left our warehouse yesterday.",
    "Sorry about that! I've applied a {k}% discount to your cart manually.",
    "Refunds take 3-5 business days to appear, depending on your bank.",
    "I've updated the address. You'll get a confirmation email in a few minutes.",
    "I've opened a claim with the carrier; we'll ship a replacement today at no cost to you.",
    "Anything else I can help you with?", "Done!", "Let me check with our warehouse team, one moment please.",
    "The L size is in stock. I've created the exchange and emailed you a prepaid return label.",
    "You're welcome, have a great day!",
)
AI_LINES = (
    "Yes! We ship to Canada. Delivery usually takes 5-8 business days.",
    "Our support team is available Saturday 9:00-17:00 and closed on Sunday. Can I help with anything else?",
    "You can track your order from the Orders page of your account, or with the link in your confirmation email.",
    "Returns are free within 30 days. Would you like me to connect you with an agent to start one?",
    "I'm connecting you with a member of our team, they'll be with you shortly.",
    "Discount codes can't be combined, but the highest one is applied automatically at checkout.",
)


def sync_url(url: str) -> str:
    """The async URL the product uses, with a synchronous driver for bulk loading."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend in ("mysql", "mariadb"):
        u = u.set(drivername="mysql+pymysql")
        if "charset" not in u.query:
            u = u.update_query_dict({"charset": "utf8mb4"})
    elif backend == "sqlite":
        u = u.set(drivername="sqlite")
    else:
        raise SystemExit(f"unsupported database URL scheme: {u.drivername}")
    return u.render_as_string(hide_password=False)


class Progress:
    """A one-line progress bar on stderr with rate and ETA (a log line every 5 s when not a terminal)."""

    def __init__(self, total: int, unit: str, stream=sys.stderr):
        self.total, self.unit, self.stream = max(total, 1), unit, stream
        self.done = 0
        self.extra = ""
        self.start = self.last_draw = time.monotonic()
        self.tty = stream.isatty()

    def update(self, n: int, extra: str = "") -> None:
        self.done += n
        self.extra = extra
        now = time.monotonic()
        if now - self.last_draw >= (0.2 if self.tty else 5.0):
            self.last_draw = now
            self.draw()

    def line(self) -> str:
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        frac = min(self.done / self.total, 1.0)
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        bar = "#" * int(frac * 30)
        return (f"[{bar:<30}] {frac * 100:5.1f}% {self.done:,}/{self.total:,} {self.unit} "
                f"{rate:,.0f}/s elapsed {fmt_secs(elapsed)} ETA {fmt_secs(eta)} {self.extra}")

    def draw(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\x1b[K")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        self.draw()
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()


def fmt_secs(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def message_counts(rng: random.Random, n_sessions: int, n_messages: int) -> list[int]:
    """A long-tailed (log-normal) number of messages per session, at least 1, summing to n_messages."""
    if n_messages < n_sessions:
        raise SystemExit("--messages must be at least --sessions (every session has a first message)")
    weights = [rng.lognormvariate(0.0, 1.0) for _ in range(n_sessions)]
    scale = (n_messages - n_sessions) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    short = n_messages - sum(counts)  # 0 <= short < n_sessions from truncation
    for i in rng.sample(range(n_sessions), short):
        counts[i] += 1
    return counts


class Generator:
    def __init__(self, args, agent_rows: list[tuple[int, str]], first_visitor_id: int):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tenant_id = args.tenant_id
        self.agents = agent_rows
        # A few agents carry most of the load.
        self.agent_weights = [1.0 / (i + 1) for i in range(len(agent_rows))]
        self.next_visitor_id = first_visitor_id
        self.visitors: dict[int, list] = {}  # id -> [name, email, created, last_seen]
        self.visitor_pool: list[int] = []
        self.now = int(time.time() * 1000)

    def customer(self):
        rng = self.rng
        if self.visitor_pool and rng.random() < 0.15:
            vid = rng.choice(self.visitor_pool)
            name, email = self.visitors[vid][0], self.visitors[vid][1]
            return vid, name, email, False
        if rng.random() < 0.07:
            name, email = "Anonymous visitor", ""
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}"
            email = f"{first.lower()}.{last.lower()}{rng.randint(1, 999)}@{rng.choice(DOMAINS)}"
        vid = self.next_visitor_id
        self.next_visitor_id += 1
        return vid, name, email, True

    def status_for(self, created: int) -> str:
        age = self.now - created
        r = self.rng.random()
        if age < 2 * DAY_MS:
            return "open" if r < 0.3 else "assigned" if r < 0.7 else "resolved"
        if age < 14 * DAY_MS:
            return "open" if r < 0.02 else "assigned" if r < 0.06 else "resolved"
        return "open" if r < 0.003 else "assigned" if r < 0.01 else "resolved"

    def text(self, lines, name: str) -> str:
        rng = self.rng
        parts = [rng.choice(lines)]
        r = rng.random()
        if r < 0.25:
            parts.append(rng.choice(lines))
        if r < 0.05:  # the occasional long message
            parts.extend(rng.choice(lines) for _ in range(rng.randint(3, 12)))
        return " ".join(parts).format(n=rng.randint(10000, 99999), k=rng.randint(5, 40), name=name.split()[0])

    def session(self, sid: str, created: int, n: int):
        """One session's row (a dict) and its messages (tuples in seq order)."""
        rng = self.rng
        tid = self.tenant_id
        vid, cname, cemail, new_visitor = self.customer()
        status = self.status_for(created)
        agent = None
        if status == "assigned" or (status == "resolved" and rng.random() < 0.8):
            agent = rng.choices(self.agents, self.agent_weights)[0]
        # Message times: replies within seconds to minutes, the occasional long pause.
        times, t = [], created + rng.randint(500, 5000)
        for _ in range(n):
            times.append(t)
            t += int(rng.expovariate(1 / 40_000)) + 1500 if rng.random() > 0.02 else rng.randint(600_000, 20_000_000)
        if times[-1] > self.now - 1000:  # squeeze a recent conversation into the past
            span = max(times[-1] - times[0], 1)
            room = max(self.now - 1000 - times[0], n)
            times = [times[0] + (x - times[0]) * room // span for x in times]
            for i in range(1, n):  # keep strictly increasing after integer scaling
                if times[i] <= times[i - 1]:
                    times[i] = times[i - 1] + 1
        join_at = rng.randint(1, min(3, n - 1)) if agent and n >= 3 else None
        resolved_note = status == "resolved" and n >= 2
        msgs = []
        joined = False
        agent_id, agent_name = agent if agent else (0, "")
        for i in range(n):
            seq = i + 1
            if i == 0:
                sender = "visitor"
            elif resolved_note and i == n - 1:
                sender = "system"
            elif i == join_at:
                sender = "system"
                joined = True
            else:
                sender = "visitor" if rng.random() < 0.5 else ("agent" if joined else "ai")
            if sender == "visitor":
                body = self.text(VISITOR_LINES, cname)
                row = (tid, sid, seq, "visitor", vid, cname, body,
                       f"{rng.getrandbits(64):016x}" if rng.random() < 0.8 else None, times[i])
            elif sender == "agent":
                body = self.text(AGENT_LINES, cname)
                row = (tid, sid, seq, "agent", agent_id, agent_name, body,
                       f"{rng.getrandbits(64):016x}" if rng.random() < 0.9 else None, times[i])
            elif sender == "ai":
                row = (tid, sid, seq, "ai", 0, "AI assistant", rng.choice(AI_LINES), None, times[i])
            else:
                if i == join_at:
                    body = f"{agent_name} joined the conversation"
                else:
                    body = f"{agent_name} resolved the conversation" if agent else "The conversation was resolved"
                row = (tid, sid, seq, "system", 0, "", body, None, times[i])
            msgs.append(row)
        last = msgs[-1]
        # Denormalized columns, by the store's rules (see Store._append_message / mark_read / set_status).
        last_answer = max((m[2] for m in msgs if m[3] in ("agent", "ai")), default=0)
        waiting = next((m[8] for m in msgs if m[3] == "visitor" and m[2] > last_answer), None)
        if status == "resolved":
            agent_read = n
            waiting = None
        else:
            # An agent read everything before their own last reply, often up to the latest non-visitor
            # message, sometimes further.
            replied = max((m[2] for m in msgs if m[3] == "agent"), default=0)
            if rng.random() < 0.5:
                agent_read = max((m[2] for m in msgs if m[3] != "visitor"), default=0)
            else:
                agent_read = rng.randint(replied, n)
        unread = sum(1 for m in msgs if m[3] == "visitor" and m[2] > agent_read)
        visitor_read = n if rng.random() < 0.8 else max(m[2] for m in msgs if m[3] == "visitor")
        row = {
            "id": sid, "tenant_id": tid, "visitor_id": vid, "channel": rng.choice(CHANNELS), "status": status,
            "assigned_agent_id": agent[0] if agent else None, "customer_name": cname, "customer_email": cemail,
            "page_url": f"https://shop.example.com{rng.choice(PAGES)}", "user_agent": rng.choice(USER_AGENTS),
            "created_at_ms": created, "updated_at_ms": last[8],
            "resolved_at_ms": last[8] if status == "resolved" else None, "last_seq": n,
            "last_message_preview": preview_of(last[6]), "last_message_sender": last[3],
            "waiting_since_ms": waiting, "agent_unread": unread, "agent_read_seq": agent_read,
            "visitor_read_seq": visitor_read,
            "first_response_at_ms": min((m[8] for m in msgs if m[3] in ("agent", "ai")), default=None),
            "first_agent_response_at_ms": min((m[8] for m in msgs if m[3] == "agent"), default=None),
            # No AI handoff, and message budgets' windows long over (migrations 0004, 0005).
            "handoff_at_ms": None, "handoff_reason": None, "visitor_window_start_ms": 0, "visitor_window_count": 0,
            "agent_window_start_ms": 0, "agent_window_count": 0,
            # No labels; about a third of resolved conversations rated (migration 0009), drawn from a
            # generator of their own so that adding them left every other generated value unchanged.
            "labels": "[]", "rating_score": None, "rating_comment": None, "rated_at_ms": None,
            # Nobody waiting in a routing queue, all within business hours, no e-mail due (migration 0012).
            "queued_at_ms": None, "after_hours": False, "mail_sent_seq": 0, "mail_due_at_ms": None,
        }
        if status == "resolved":
            rating_rng = random.Random(sid)
            if rating_rng.random() < 0.33:
                row["rating_score"] = rating_rng.choices((1, 2, 3, 4, 5), (4, 4, 10, 30, 52))[0]
                row["rated_at_ms"] = min(last[8] + rating_rng.randint(5_000, 600_000), self.now)
        if new_visitor:
            self.visitors[vid] = [cname, cemail, created, last[8]]
            self.visitor_pool.append(vid)
        else:
            v = self.visitors[vid]
            v[3] = max(v[3], last[8])
        return row, msgs


def ensure_tenant_and_agents(conn, args) -> list[tuple[int, str]]:
    now = int(time.time() * 1000)
    if conn.execute(sa.select(tenants.c.id).where(tenants.c.id == args.tenant_id)).first() is None:
        conn.execute(tenants.insert().values(id=args.tenant_id, name=f"Bench tenant {args.tenant_id}",
                                             allowed_origins="[]", settings="{}", created_at_ms=now))
        print(f"created tenant {args.tenant_id}", file=sys.stderr)
    rows = conn.execute(sa.select(agents.c.id, agents.c.name).where(agents.c.tenant_id == args.tenant_id)
                        .order_by(agents.c.id)).all()
    if not rows:
        from callcenter.security import hash_password

        pw = hash_password(args.agent_password)
        for i in range(args.agents):
            conn.execute(agents.insert().values(
                tenant_id=args.tenant_id, email=f"agent{i + 1}@bench.example.com", password_hash=pw,
                name=AGENT_NAMES[i % len(AGENT_NAMES)] + (f" {i // len(AGENT_NAMES) + 1}" if i >= len(AGENT_NAMES) else ""),
                role="admin" if i == 0 else "agent", active=True, token_version=1, created_at_ms=now))
        rows = conn.execute(sa.select(agents.c.id, agents.c.name).where(agents.c.tenant_id == args.tenant_id)
                            .order_by(agents.c.id)).all()
        print(f"created {len(rows)} agents agent1..{len(rows)}@bench.example.com "
              f"(password {args.agent_password!r})", file=sys.stderr)
    return [(r.id, r.name) for r in rows]


def insert_sql(conn, table: sa.Table, columns: list[str]) -> str:
    """A positional INSERT for the driver's executemany (PyMySQL turns it into multi-row INSERTs)."""
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle in ("qmark", "numeric") else "%s"
    for c in columns:
        table.c[c]  # a KeyError here means the generator and store.py disagree on a column
    return (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
            f"VALUES ({', '.join([mark] * len(columns))})")


def verify(conn, tenant_id: str) -> bool:
    """SQL checks of what the generator promises; prints each and returns whether all passed."""
    s, m = sessions.c, messages.c
    per = (sa.select(m.session_id, sa.func.count().label("n"), sa.func.max(m.seq).label("mx"),
                     sa.func.min(m.seq).label("mn"), sa.func.max(m.created_at_ms).label("last_at"))
           .where(m.tenant_id == tenant_id).group_by(m.session_id).subquery())
    checks = {
        "sessions whose messages are not exactly seq 1..last_seq": sa.select(sa.func.count()).select_from(
            sessions.outerjoin(per, per.c.session_id == s.id)).where(
            s.tenant_id == tenant_id,
            sa.or_(sa.func.coalesce(per.c.n, 0) != s.last_seq, sa.func.coalesce(per.c.mx, 0) != s.last_seq,
                   sa.and_(per.c.mn.is_not(None), per.c.mn != 1))),
        "sessions whose updated_at_ms is not their last message's time": sa.select(sa.func.count()).select_from(
            sessions.join(per, per.c.session_id == s.id)).where(s.tenant_id == tenant_id,
                                                                per.c.last_at != s.updated_at_ms),
        "sessions whose agent_unread disagrees with their messages": sa.select(sa.func.count()).select_from(
            sessions).where(s.tenant_id == tenant_id, s.agent_unread != sa.select(sa.func.count()).where(
                m.session_id == s.id, m.sender_type == "visitor", m.seq > s.agent_read_seq).scalar_subquery()),
        "messages without their session": sa.select(sa.func.count()).select_from(
            messages.outerjoin(sessions, s.id == m.session_id)).where(m.tenant_id == tenant_id, s.id.is_(None)),
        "sessions without their visitor": sa.select(sa.func.count()).select_from(
            sessions.outerjoin(visitors, visitors.c.id == s.visitor_id)).where(s.tenant_id == tenant_id,
                                                                                 visitors.c.id.is_(None)),
    }
    ok = True
    for label, query in checks.items():
        bad = conn.execute(query).scalar_one()
        print(f"verify: {label}: {bad}", file=sys.stderr)
        ok = ok and bad == 0
    return ok


def main(argv: list[str] | None = None) -> int:
    class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
        pass

    p = argparse.ArgumentParser(description=__doc__, formatter_class=Formatter)
    p.add_argument("--database-url", default=os.environ.get("CALLCENTER_DATABASE_URL"),
                   help="the product's database URL (mysql+aiomysql://… or sqlite+aiosqlite:///…); "
                        "default: $CALLCENTER_DATABASE_URL")
    p.add_argument("--migrate", action="store_true", help="apply the migrations first (else the schema must be at head)")
    p.add_argument("--tenant-id", default="bench-tenant", help="tenant to fill (created when missing)")
    p.add_argument("--sessions", type=int, default=100_000, help="number of sessions to add")
    p.add_argument("--messages", type=int, default=2_000_000, help="number of messages to add, over all sessions")
    p.add_argument("--agents", type=int, default=8, help="agents to create when the tenant has none")
    p.add_argument("--agent-password", default="Password123!", help="password of the created agents")
    p.add_argument("--days", type=float, default=180.0, help="sessions are spread over this many days up to now")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data; times are relative to now)")
    p.add_argument("--batch-size", type=int, default=5000, help="rows per executemany call")
    p.add_argument("--commit-every", type=int, default=None,
                   help="commit after about this many rows; 0 = one transaction. Default: one transaction when "
                        "the sessions/messages/visitors tables are empty (MariaDB's bulk load), else 200000")
    p.add_argument("--no-analyze", action="store_true", help="skip ANALYZE TABLE at the end (MySQL/MariaDB)")
    p.add_argument("--verify", action="store_true", help="check the loaded data's consistency with SQL afterwards")
    args = p.parse_args(argv)
    if not args.database_url:
        p.error("no database: pass --database-url or set CALLCENTER_DATABASE_URL")
    if args.sessions < 1 or args.messages < args.sessions:
        p.error("need --sessions >= 1 and --messages >= --sessions")

    t_start = time.monotonic()
    if args.migrate:
        migrations.upgrade(args.database_url)
    else:
        import asyncio

        current = asyncio.run(migrations.current_revision(args.database_url))
        if current != migrations.head_revision():
            print(f"the schema is at {current!r}, not {migrations.head_revision()!r}: "
                  "run `callcenter migrate` or pass --migrate", file=sys.stderr)
            return 2

    engine = sa.create_engine(sync_url(args.database_url))
    is_mysql = engine.dialect.name in ("mysql", "mariadb")
    rng_counts = random.Random(args.seed + 1)
    counts = message_counts(rng_counts, args.sessions, args.messages)

    with engine.connect() as conn:
        if is_mysql:
            conn.exec_driver_sql("SET SESSION unique_checks=0, foreign_key_checks=0")
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        conn.commit()
        with conn.begin():
            agent_rows = ensure_tenant_and_agents(conn, args)
        empty = all(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 0
                    for t in (sessions, messages, visitors))
        commit_every = args.commit_every if args.commit_every is not None else (0 if empty else 200_000)
        first_visitor_id = (conn.execute(sa.select(sa.func.max(visitors.c.id))).scalar() or 0) + 1
        conn.commit()

        gen = Generator(args, agent_rows, first_visitor_id)
        s_cols = [c.name for c in sessions.columns]
        m_cols = ["tenant_id", "session_id", "seq", "sender_type", "sender_id", "sender_name", "body",
                  "client_msg_id", "created_at_ms"]
        v_cols = ["id", "tenant_id", "name", "email", "created_at_ms", "last_seen_at_ms"]
        s_sql, m_sql, v_sql = (insert_sql(conn, sessions, s_cols), insert_sql(conn, messages, m_cols),
                               insert_sql(conn, visitors, v_cols))
        mode = ("one transaction" + (" (bulk load into empty InnoDB tables)" if is_mysql else "")
                if commit_every == 0 else f"commit every {commit_every:,} rows")
        print(f"generating {args.sessions:,} sessions / {args.messages:,} messages into tenant {args.tenant_id} "
              f"({engine.dialect.name}, {mode})", file=sys.stderr)

        span = int(args.days * DAY_MS)
        rng = gen.rng
        created_times = sorted(gen.now - rng.randint(60_000, span) for _ in range(args.sessions))
        progress = Progress(args.messages, "messages")
        pending: list = []  # heap of (created_at_ms, n, message tuple): messages not yet due
        m_batch: list = []
        s_batch: list = []
        since_commit = 0
        n_push = 0
        conn.begin()

        def flush(force: bool = False) -> None:
            nonlocal since_commit
            if s_batch and (force or len(s_batch) >= args.batch_size):
                conn.exec_driver_sql(s_sql, s_batch)
                since_commit += len(s_batch)
                s_batch.clear()
            if m_batch and (force or len(m_batch) >= args.batch_size):
                conn.exec_driver_sql(m_sql, m_batch)
                since_commit += len(m_batch)
                progress.update(len(m_batch), f"sessions {i_session + 1:,}")
                m_batch.clear()
            if commit_every and since_commit >= commit_every:
                conn.commit()
                conn.begin()
                since_commit = 0

        i_session = 0
        for i_session, created in enumerate(created_times):
            # Messages are written in time order across sessions, so ids grow with time.
            while pending and pending[0][0] <= created:
                m_batch.append(heapq.heappop(pending)[2])
            sid = f"{rng.getrandbits(128):032x}"
            row, msgs = gen.session(sid, created, counts[i_session])
            s_batch.append(tuple(row[c] for c in s_cols))
            for m in msgs:
                n_push += 1
                heapq.heappush(pending, (m[8], n_push, m))
            if len(m_batch) >= args.batch_size or len(s_batch) >= args.batch_size:
                flush()
        while pending:
            m_batch.append(heapq.heappop(pending)[2])
            if len(m_batch) >= args.batch_size:
                flush()
        flush(force=True)
        progress.close()
        v_rows = [(vid, args.tenant_id, v[0], v[1], v[2], v[3]) for vid, v in gen.visitors.items()]
        for k in range(0, len(v_rows), args.batch_size):
            conn.exec_driver_sql(v_sql, v_rows[k:k + args.batch_size])
        t_commit = time.monotonic()
        print(f"committing{' (InnoDB builds the indexes now)' if is_mysql and commit_every == 0 else ''}…",
              file=sys.stderr, flush=True)
        conn.commit()
        print(f"committed in {time.monotonic() - t_commit:.1f}s", file=sys.stderr)
        if is_mysql and not args.no_analyze:
            t_an = time.monotonic()
            for t in ("visitors", "sessions", "messages"):
                conn.exec_driver_sql(f"ANALYZE TABLE {t}").all()
            print(f"ANALYZE TABLE done in {time.monotonic() - t_an:.1f}s", file=sys.stderr)
        elapsed = time.monotonic() - t_start
        print(f"done: {args.sessions:,} sessions, {args.messages:,} messages, {len(v_rows):,} visitors, "
              f"{len(agent_rows)} agents in tenant {args.tenant_id} in {elapsed:.1f}s "
              f"({args.messages / elapsed:,.0f} messages/s overall)", file=sys.stderr)
        if args.verify:
            t_v = time.monotonic()
            ok = verify(conn, args.tenant_id)
            print(f"verify {'passed' if ok else 'FAILED'} in {time.monotonic() - t_v:.1f}s", file=sys.stderr)
            if not ok:
                return 1
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
