"""The per-socket delivery bookkeeping alone, without a socket (realtime/delivery.py): repeats
dropped, holes found, live events held during a catch-up and released through the same check,
resume, bounded memory."""
from __future__ import annotations

from callcenter import events
from callcenter.events import Event
from callcenter.realtime.delivery import Decision, DeliveryCursor


def message(session_id: str, seq: int) -> Event:
    return Event(events.MESSAGE_NEW, "t1", {"message": {"seq": seq}}, session_id=session_id)


def other(session_id: str = "s1") -> Event:
    return Event(events.TYPING, "t1", {"session_id": session_id}, session_id=session_id)


def test_in_order_messages_are_sent_and_repeats_dropped():
    cursor = DeliveryCursor()
    cursor.resume({"s1": 2})
    assert cursor.offer(message("s1", 3), "p3") is Decision.SEND
    assert cursor.offer(message("s1", 3), "p3") is Decision.DROP
    assert cursor.offer(message("s1", 2), "p2") is Decision.DROP
    assert cursor.offer(message("s1", 4), "p4") is Decision.SEND
    assert cursor.after("s1") == 4
    # A session the socket has not seen before starts where the first message is.
    assert cursor.offer(message("s2", 7), "q7") is Decision.SEND and cursor.after("s2") == 7
    # Other events have no seq: always sent.
    assert cursor.offer(other(), "typing") is Decision.SEND


def test_a_hole_holds_the_event_until_the_store_fills_it():
    cursor = DeliveryCursor()
    cursor.resume({"s1": 1})
    assert cursor.offer(message("s1", 4), "p4") is Decision.GAP
    assert cursor.catching_up
    # Live events meanwhile are held, in order.
    assert cursor.offer(message("s1", 5), "p5") is Decision.HOLD
    assert cursor.offer(other(), "typing") is Decision.HOLD
    # The catch-up sends 2, 3, 4 from the store ...
    for seq in (2, 3, 4):
        cursor.track("s1", seq)
    # ... then the held ones go through the same check: 4 again is a repeat, 5 and the typing go out.
    released = [(payload, decision) for _event, payload, decision in cursor.release()]
    assert released == [("p4", Decision.DROP), ("p5", Decision.SEND), ("typing", Decision.SEND)]
    assert not cursor.catching_up and cursor.after("s1") == 5


def test_a_new_hole_while_releasing_keeps_the_rest_held():
    cursor = DeliveryCursor()
    cursor.resume({"s1": 1, "s2": 1})
    assert cursor.begin_catch_up()
    assert not cursor.begin_catch_up(), "one catch-up at a time"
    for event, payload in ((message("s1", 2), "a2"), (message("s2", 5), "b5"), (message("s1", 3), "a3")):
        assert cursor.offer(event, payload) is Decision.HOLD
    released = [(payload, decision) for _event, payload, decision in cursor.release()]
    assert released == [("a2", Decision.SEND), ("b5", Decision.GAP)]
    assert [payload for _event, payload in cursor.held] == ["b5", "a3"], "the hole's event and what followed"


def test_a_private_note_the_visitor_never_gets_is_a_hole_filled_by_its_absence():
    """A visitor's socket gets seq 5 after 3 (4 is the agents' note): the catch-up reads the store's
    visitor view (4 is not there, 5 is), and 5 then goes out once."""
    cursor = DeliveryCursor()
    cursor.resume({"s1": 3})
    assert cursor.offer(message("s1", 5), "p5") is Decision.GAP
    cursor.track("s1", 5)  # the store's visitor view after 3: just 5
    assert [(p, d) for _e, p, d in cursor.release()] == [("p5", Decision.DROP)]


def test_held_events_and_tracked_sessions_are_bounded():
    cursor = DeliveryCursor(max_sessions=3, max_held=2)
    for i in range(5):
        cursor.track(f"s{i}", 1)
    assert list(cursor.seen) == ["s2", "s3", "s4"], "least recently active dropped first"
    cursor.begin_catch_up()
    assert cursor.offer(other(), "1") is Decision.HOLD
    assert cursor.offer(other(), "2") is Decision.HOLD
    assert cursor.offer(other(), "3") is Decision.OVERFLOW
