"""Chat analytics for a tenant over a range of days: how many conversations, how fast they were
answered (by anyone, by a person) and resolved, who answered first, and when visitors write.

Days are calendar days in the caller's time zone, so "today" is the agent's today: an IANA zone
(`tz`, which the dashboard sends) gives each day its own offset, so a range across a daylight-saving
change still splits at local midnights; without one, a fixed UTC offset serves every day. The rows
come from the store (`Store.analytics_rows`); everything here is arithmetic on them, so it is the
same on SQLite and MySQL.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass

from .errors import InvalidInput

MAX_RANGE_DAYS = 92
MAX_UTC_OFFSET_MINUTES = 14 * 60
MAX_TIME_ZONE_CHARS = 64
# An IANA key such as "Europe/Berlin" or "Etc/GMT+5"; no dots, so no path outside the zone database.
_TIME_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}")


@dataclass(frozen=True)
class DateRange:
    first: dt.date
    last: dt.date  # inclusive
    utc_offset_minutes: int
    zone: zoneinfo.ZoneInfo | None = None  # when set, it decides each day's offset

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def start_ms(self) -> int:
        return self._ms(self.first)

    @property
    def end_ms(self) -> int:
        return self._ms(self.last + dt.timedelta(days=1))

    @property
    def _tzinfo(self) -> dt.tzinfo:
        return self.zone or dt.timezone(dt.timedelta(minutes=self.utc_offset_minutes))

    def _ms(self, day: dt.date) -> int:
        """The first millisecond of `day` there (a local midnight; its offset is that day's)."""
        return int(dt.datetime(day.year, day.month, day.day, tzinfo=self._tzinfo).timestamp() * 1000)

    def local(self, ms: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(ms / 1000, tz=self._tzinfo)


def parse_time_zone(raw: str | None) -> zoneinfo.ZoneInfo | None:
    """An IANA time zone name ("Europe/Berlin"), or None when not given."""
    if raw in (None, ""):
        return None
    if len(raw) <= MAX_TIME_ZONE_CHARS and _TIME_ZONE_KEY.fullmatch(raw):
        try:
            return zoneinfo.ZoneInfo(raw)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise InvalidInput("tz must be an IANA time zone name like Europe/Berlin", code="invalid_query")


def parse_range(first: str | None, last: str | None, utc_offset_minutes: int, *, today: dt.date | None = None,
                zone: zoneinfo.ZoneInfo | None = None) -> DateRange:
    """`from`/`to` (YYYY-MM-DD, both included; default: the last 7 days up to today there), in `zone`
    when given, else at the fixed offset."""
    if not -MAX_UTC_OFFSET_MINUTES <= utc_offset_minutes <= MAX_UTC_OFFSET_MINUTES:
        raise InvalidInput(f"utc_offset_minutes must be between {-MAX_UTC_OFFSET_MINUTES} and "
                           f"{MAX_UTC_OFFSET_MINUTES}", code="invalid_query")
    if today is None:
        today = dt.datetime.now(zone or dt.timezone(dt.timedelta(minutes=utc_offset_minutes))).date()

    def day(raw: str | None, name: str, default: dt.date) -> dt.date:
        if raw in (None, ""):
            return default
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise InvalidInput(f"{name} must be a date like 2026-11-26", code="invalid_query") from None

    last_day = day(last, "to", today)
    first_day = day(first, "from", last_day - dt.timedelta(days=6))
    if first_day > last_day:
        raise InvalidInput("from must not be after to", code="invalid_query")
    if (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(f"a range may span at most {MAX_RANGE_DAYS} days", code="invalid_query")
    if first_day.year < 2000 or last_day.year > 9000:
        raise InvalidInput("dates must be between the years 2000 and 9000", code="invalid_query")
    return DateRange(first_day, last_day, utc_offset_minutes, zone)


def _stats_secs(durations_ms: list[int]) -> dict:
    """count, p50 and p90 (nearest rank) and mean of some durations, in seconds (None when there are none)."""
    values = sorted(max(0, d) for d in durations_ms)
    if not values:
        return {"count": 0, "p50": None, "p90": None, "mean": None}

    def rank(q: float) -> float:
        return round(values[min(len(values) - 1, max(0, int(q * len(values) + 0.999999) - 1))] / 1000, 1)

    return {"count": len(values), "p50": rank(0.5), "p90": rank(0.9),
            "mean": round(sum(values) / len(values) / 1000, 1)}


def _ratings(scores: list[int]) -> dict:
    return {"count": len(scores), "average": round(sum(scores) / len(scores), 2) if scores else None}


def summarize(rng: DateRange, started: list[dict], resolved: list[dict], agents: list[dict],
              rated: list[dict] = (), per_label: list[dict] = ()) -> dict:
    """The analytics document (see models.AnalyticsResponse) from the store's rows (`rated`: the ratings
    given in the range; `per_label`: conversations started in it per label)."""
    by_day = {rng.first + dt.timedelta(days=i): {"started": 0, "resolved": 0} for i in range(rng.days)}
    by_hour = [0] * 24
    first_response, first_agent_response, resolution = [], [], []
    answered_by_ai_first = unanswered = handed_off = resolved_of_started = 0
    per_agent: dict[int, dict] = {}

    def agent_entry(agent_id: int) -> dict:
        return per_agent.setdefault(agent_id, {"conversations": 0, "resolved": 0, "first_response_ms": []})

    for row in started:
        local = rng.local(row["created_at_ms"])
        by_day[local.date()]["started"] += 1
        by_hour[local.hour] += 1
        first, human = row["first_response_at_ms"], row["first_agent_response_at_ms"]
        if first is None:
            unanswered += 1
        else:
            first_response.append(first - row["created_at_ms"])
            if human is None or first < human:
                answered_by_ai_first += 1
        if human is not None:
            first_agent_response.append(human - row["created_at_ms"])
        if row["handoff_at_ms"] is not None:
            handed_off += 1
        if row["status"] == "resolved" and row["resolved_at_ms"] is not None:
            resolved_of_started += 1
            resolution.append(row["resolved_at_ms"] - row["created_at_ms"])
        if row["assigned_agent_id"] is not None:
            entry = agent_entry(row["assigned_agent_id"])
            entry["conversations"] += 1
            if human is not None:
                entry["first_response_ms"].append(human - row["created_at_ms"])
    for row in resolved:
        by_day[rng.local(row["resolved_at_ms"]).date()]["resolved"] += 1
        if row["assigned_agent_id"] is not None:
            agent_entry(row["assigned_agent_id"])["resolved"] += 1
    scores_by_day: dict[dt.date, list[int]] = {day: [] for day in by_day}
    distribution = {str(score): 0 for score in range(1, 6)}
    for row in rated:
        score = row["rating_score"]
        distribution[str(score)] += 1
        scores_by_day[rng.local(row["rated_at_ms"]).date()].append(score)
        if row["assigned_agent_id"] is not None:
            agent_entry(row["assigned_agent_id"]).setdefault("scores", []).append(score)

    names = {a["id"]: a["name"] for a in agents}
    agent_rows = []
    for agent_id, entry in per_agent.items():
        agent_rows.append({"agent_id": agent_id, "name": names.get(agent_id, f"Agent {agent_id}"),
                           "conversations": entry["conversations"], "resolved": entry["resolved"],
                           "first_response_secs": _stats_secs(entry["first_response_ms"]),
                           "ratings": _ratings(entry.get("scores", []))})
    agent_rows.sort(key=lambda a: (-a["conversations"], -a["resolved"], a["name"]))
    return {
        "range": {"from": rng.first.isoformat(), "to": rng.last.isoformat(), "days": rng.days,
                  "utc_offset_minutes": rng.utc_offset_minutes, "tz": rng.zone.key if rng.zone else None},
        "totals": {"conversations": len(started), "resolved": resolved_of_started, "unanswered": unanswered,
                   "answered_by_ai_first": answered_by_ai_first, "handed_off": handed_off,
                   "resolved_in_range": len(resolved)},
        "first_response_secs": _stats_secs(first_response),
        "first_agent_response_secs": _stats_secs(first_agent_response),
        "resolution_secs": _stats_secs(resolution),
        "by_day": [{"date": day.isoformat(), **counts, "ratings": _ratings(scores_by_day[day])}
                   for day, counts in by_day.items()],
        "by_hour": by_hour,
        "agents": agent_rows,
        "ratings": {**_ratings([row["rating_score"] for row in rated]), "distribution": distribution},
        "labels": [{"name": row["name"], "conversations": row["conversations"]} for row in per_label],
    }
