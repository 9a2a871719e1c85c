"""The demo tenant from the reference quick start, with a few realistic past conversations."""
from __future__ import annotations

import logging

from .errors import Conflict
from .security import hash_password
from .domain import preview_of
from .store import Store, messages, new_session_id, now_ms, sessions

log = logging.getLogger("callcenter.demo")

DEMO_TENANT_ID = "demo-tenant"
DEMO_TENANT_NAME = "Demo Store"
DEMO_AGENT_EMAIL = "agent1@callcenter.com"
DEMO_AGENT_PASSWORD = "Password123!"
DEMO_AGENT2_EMAIL = "agent2@callcenter.com"
# Local development origins the demo widget may be embedded from.
DEMO_ALLOWED_ORIGINS = [f"http://{host}:{port}" for host in ("localhost", "127.0.0.1")
                        for port in (3000, 5173, 8000, 8080, 8081, 8888)] + ["http://localhost", "http://127.0.0.1"]

MINUTE_MS = 60_000

# (customer, email, status, assigned agent index or None, minutes ago, [(sender, text), ...])
CONVERSATIONS = [
    ("Maria Lopez", "maria.lopez@example.com", "open", None, 3, [
        ("visitor", "Hi! I ordered a pair of running shoes on Monday and the tracking hasn't updated since."),
        ("visitor", "Order number is #10482."),
    ]),
    ("James Carter", "james.carter@example.com", "assigned", 0, 25, [
        ("visitor", "Can I change the delivery address on my order?"),
        ("system", "Alex Morgan joined the conversation"),
        ("agent", "Hi James, yes — as long as it hasn't shipped. What's the new address?"),
        ("visitor", "42 Elm Street, Springfield. Thanks!"),
    ]),
    ("Priya Shah", "priya.shah@example.com", "assigned", 1, 90, [
        ("visitor", "Do you ship to Canada?"),
        ("ai", "Yes! We ship to Canada. Delivery usually takes 5–8 business days."),
        ("visitor", "Great, and are duties included?"),
        ("system", "Sam Rivera joined the conversation"),
        ("agent", "Duties are included at checkout for Canadian orders, so there are no surprises on delivery."),
    ]),
    ("Tom Becker", "tom.becker@example.com", "resolved", 0, 60 * 26, [
        ("visitor", "My discount code SPRING20 says it's expired."),
        ("system", "Alex Morgan joined the conversation"),
        ("agent", "Sorry about that! I've applied 20% to your cart manually — refresh and you should see it."),
        ("visitor", "Works now, thank you!"),
        ("system", "Alex Morgan resolved the conversation"),
    ]),
    ("Anonymous visitor", "", "open", None, 60 * 3, [
        ("visitor", "What are your opening hours on weekends?"),
        ("ai", "Our support team is available Saturday 9:00–17:00 and closed on Sunday. Can I help with anything else?"),
    ]),
]


async def seed_demo(store: Store, *, password: str = DEMO_AGENT_PASSWORD) -> bool:
    """Create the demo tenant, two agents and past conversations. False if it already exists."""
    try:
        await store.create_tenant(DEMO_TENANT_ID, DEMO_TENANT_NAME, DEMO_ALLOWED_ORIGINS,
                                  settings={"greeting": "Hi there! How can we help you today?"})
    except Conflict:
        return False
    agent_rows = [
        await store.create_agent(DEMO_TENANT_ID, DEMO_AGENT_EMAIL, hash_password(password), "Alex Morgan", "admin"),
        await store.create_agent(DEMO_TENANT_ID, DEMO_AGENT2_EMAIL, hash_password(password), "Sam Rivera", "agent"),
    ]
    now = now_ms()
    for name, email, status, agent_index, minutes_ago, lines in CONVERSATIONS:
        started = now - minutes_ago * MINUTE_MS - len(lines) * MINUTE_MS
        agent = agent_rows[agent_index] if agent_index is not None else None
        sid = new_session_id()
        visitor_id = await store.create_visitor(DEMO_TENANT_ID, name, email, started)
        rows = []
        for seq, (sender, text) in enumerate(lines, start=1):
            sender_name = {"visitor": name, "agent": agent["name"] if agent else "", "ai": "AI assistant"}.get(sender, "")
            sender_id = visitor_id if sender == "visitor" else (agent["id"] if sender == "agent" and agent else 0)
            rows.append({"tenant_id": DEMO_TENANT_ID, "session_id": sid, "seq": seq, "sender_type": sender,
                         "sender_id": sender_id, "sender_name": sender_name, "body": text, "client_msg_id": None,
                         "created_at_ms": started + seq * MINUTE_MS})
        last = rows[-1]
        answers = [r["created_at_ms"] for r in rows if r["sender_type"] in ("agent", "ai")]
        human_answers = [r["created_at_ms"] for r in rows if r["sender_type"] == "agent"]
        unanswered = [r for r in rows if r["sender_type"] == "visitor"
                      and not any(o["seq"] > r["seq"] and o["sender_type"] in ("agent", "ai") for o in rows)]
        await store.insert_rows(sessions, [{
            "id": sid, "tenant_id": DEMO_TENANT_ID, "visitor_id": visitor_id, "channel": "web", "status": status,
            "assigned_agent_id": agent["id"] if agent else None, "customer_name": name, "customer_email": email,
            "page_url": "https://shop.example.com/orders", "user_agent":
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
            "created_at_ms": started, "updated_at_ms": last["created_at_ms"],
            "resolved_at_ms": last["created_at_ms"] if status == "resolved" else None, "last_seq": len(rows),
            "last_message_preview": preview_of(last["body"]), "last_message_sender": last["sender_type"],
            "waiting_since_ms": unanswered[0]["created_at_ms"] if unanswered and status != "resolved" else None,
            "agent_unread": 0 if status == "resolved" else len(unanswered),
            "agent_read_seq": len(rows) if status == "resolved" else len(rows) - len(unanswered),
            "visitor_read_seq": len(rows),
            "first_response_at_ms": min(answers, default=None),
            "first_agent_response_at_ms": min(human_answers, default=None),
        }])
        await store.insert_rows(messages, rows)
    log.info("demo tenant %s seeded: sign in as %s", DEMO_TENANT_ID, DEMO_AGENT_EMAIL)
    return True
