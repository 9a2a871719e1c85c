"""The tenant's business hours (settings["business_hours"]): their defaults, the checks of an admin's
change, and whether the team is open at an instant. Pure: no I/O, times are epoch milliseconds.

Intervals are local wall-clock times in the tenant's time zone, so a day lasts 23, 24 or 25 hours:
every instant is computed with zoneinfo-aware datetimes, never by adding 24 h. A local time that does
not exist (the spring-forward gap) means the first instant after the gap; an ambiguous one (fall back)
its first occurrence. "24:00" as an end is the next local midnight.
"""
from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Annotated

from pydantic import BaseModel, Field, WithJsonSchema

from .errors import InvalidInput
from .models import Body, iso

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
LANGUAGES = ("en", "es", "fr", "de")
MAX_INTERVALS_PER_DAY = 4
MAX_HOLIDAYS = 100
MAX_AWAY_MESSAGE_CHARS = 500
SEARCH_DAYS = 400  # next_open_ms / next_close_ms look this many local days ahead, then give up
DEFAULTS = {
    "enabled": False,
    "timezone": "UTC",
    "weekly": {day: [] for day in DAYS},
    "holidays": [],
    "away_messages": {lang: "" for lang in LANGUAGES},
}

_START = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")
_END = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d|24:00")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*")
_UTC = dt.timezone.utc


# ---- stored settings -------------------------------------------------------------------------------

def settings_of(tenant: dict) -> dict:
    """The tenant's business hours, every key filled in: a stored value that is missing or malformed
    (wrong type, an unknown zone, a bad interval or date) reads as its default."""
    stored = tenant.get("settings")
    stored = stored.get("business_hours") if isinstance(stored, dict) else None
    stored = stored if isinstance(stored, dict) else {}
    enabled = stored.get("enabled")
    timezone = stored.get("timezone")
    weekly = stored.get("weekly") if isinstance(stored.get("weekly"), dict) else {}
    holidays = stored.get("holidays") if isinstance(stored.get("holidays"), list) else []
    away = stored.get("away_messages") if isinstance(stored.get("away_messages"), dict) else {}
    return {
        "enabled": enabled if isinstance(enabled, bool) else DEFAULTS["enabled"],
        "timezone": timezone if _is_zone(timezone) else DEFAULTS["timezone"],
        "weekly": {day: _stored_day(weekly.get(day)) for day in DAYS},
        "holidays": sorted({h for h in holidays if _is_date(h)}),
        "away_messages": {lang: away[lang] if isinstance(away.get(lang), str) else "" for lang in LANGUAGES},
    }


def _stored_day(raw) -> list[list[str]]:
    try:
        return _check_day("stored", raw)
    except InvalidInput:
        return []


# ---- an admin's change -----------------------------------------------------------------------------

def check(changes: dict) -> dict:
    """The given fields of a change, checked and normalized (intervals sorted, holidays deduplicated and
    sorted, away messages stripped). Keys set to None count as not given; `weekly` and `away_messages`
    may name only some days / languages. InvalidInput (nothing returned) for the first bad field."""
    given = {key: value for key, value in changes.items() if value is not None}
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise InvalidInput(f"business_hours.{unknown[0]} is not a known field", code="invalid_input")
    out: dict = {}
    if "enabled" in given:
        if not isinstance(given["enabled"], bool):
            raise InvalidInput("business_hours.enabled must be true or false", code="invalid_input")
        out["enabled"] = given["enabled"]
    if "timezone" in given:
        if not _is_zone(given["timezone"]):
            raise InvalidInput(f"business_hours.timezone {str(given['timezone'])[:64]!r} is not an IANA time zone "
                               "(e.g. Europe/Berlin)", code="invalid_timezone")
        out["timezone"] = given["timezone"]
    if "weekly" in given:
        days = _given_keys(given["weekly"], DAYS, "weekly")
        out["weekly"] = {day: _check_day(day, value) for day, value in days.items()}
    if "holidays" in given:
        out["holidays"] = _check_holidays(given["holidays"])
    if "away_messages" in given:
        messages = _given_keys(given["away_messages"], LANGUAGES, "away_messages")
        out["away_messages"] = {}
        for lang, text in messages.items():
            if not isinstance(text, str):
                raise InvalidInput(f"business_hours.away_messages.{lang} must be a string", code="invalid_input")
            if len(text.strip()) > MAX_AWAY_MESSAGE_CHARS:
                raise InvalidInput(f"business_hours.away_messages.{lang} is longer than {MAX_AWAY_MESSAGE_CHARS} "
                                   "characters", code="invalid_input")
            out["away_messages"][lang] = text.strip()
    return out


def merge(current: dict, change: dict) -> dict:
    """Full settings (from settings_of) with a checked change applied: weekly by day, away_messages by
    language, the other keys replaced. Neither argument is modified."""
    out = {
        "enabled": current["enabled"],
        "timezone": current["timezone"],
        "weekly": {day: [list(i) for i in current["weekly"][day]] for day in DAYS},
        "holidays": list(current["holidays"]),
        "away_messages": dict(current["away_messages"]),
    }
    for key, value in change.items():
        if key == "weekly":
            out["weekly"].update({day: [list(i) for i in intervals] for day, intervals in value.items()})
        elif key == "away_messages":
            out["away_messages"].update(value)
        elif key == "holidays":
            out["holidays"] = list(value)
        else:
            out[key] = value
    return out


def _given_keys(raw, allowed: tuple[str, ...], group: str) -> dict:
    if not isinstance(raw, dict):
        raise InvalidInput(f"business_hours.{group} must be an object", code="invalid_input")
    given = {key: value for key, value in raw.items() if value is not None}
    for key in given:
        if key not in allowed:
            raise InvalidInput(f"business_hours.{group}.{str(key)[:20]} is not a known field", code="invalid_input")
    return given


def _check_day(day: str, raw) -> list[list[str]]:
    """One day's intervals, sorted; InvalidInput(invalid_hours) naming the day when they are not valid."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"business_hours.weekly.{day}: {why}", code="invalid_hours")

    if not isinstance(raw, (list, tuple)):
        raise bad("must be a list of [start, end] intervals")
    if len(raw) > MAX_INTERVALS_PER_DAY:
        raise bad(f"at most {MAX_INTERVALS_PER_DAY} intervals a day")
    intervals = []
    for interval in raw:
        if not isinstance(interval, (list, tuple)) or len(interval) != 2 \
                or not all(isinstance(t, str) for t in interval):
            raise bad("each interval is [start, end], both \"HH:MM\"")
        start, end = interval
        if not _START.fullmatch(start):
            raise bad(f"{start[:10]!r} is not a start time (00:00 to 23:59)")
        if not _END.fullmatch(end):
            raise bad(f"{end[:10]!r} is not an end time (00:01 to 24:00)")
        if start >= end:  # zero-padded "HH:MM" strings sort like the times they name
            raise bad(f"{start}-{end} does not end after it starts")
        intervals.append([start, end])
    intervals.sort()
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        if start < end:
            raise bad(f"intervals overlap ({start} is before {end})")
    return intervals


def _check_holidays(raw) -> list[str]:
    if not isinstance(raw, (list, tuple)):
        raise InvalidInput("business_hours.holidays must be a list of \"YYYY-MM-DD\" dates", code="invalid_holiday")
    for day in raw:
        if not _is_date(day):
            raise InvalidInput(f"business_hours.holidays: {str(day)[:20]!r} is not a date (YYYY-MM-DD)",
                               code="invalid_holiday")
    days = sorted(set(raw))
    if len(days) > MAX_HOLIDAYS:
        raise InvalidInput(f"business_hours.holidays: at most {MAX_HOLIDAYS} dates", code="invalid_holiday")
    return days


def _is_date(value) -> bool:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_zone(name) -> bool:
    # "localtime" is the host's own zone (a different one on every machine), not an IANA name.
    if not isinstance(name, str) or len(name) > 64 or not _ZONE_NAME.fullmatch(name) or name == "localtime":
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as "America"
        return False
    return True


# ---- open or closed --------------------------------------------------------------------------------

def is_open(bh: dict, at_ms: int) -> bool:
    """Open at the instant: always when business hours are disabled; otherwise inside one of the
    intervals of its local weekday, that local date not being a holiday."""
    if not bh["enabled"]:
        return True
    zone = zoneinfo.ZoneInfo(bh["timezone"])
    today = _local_date(zone, at_ms)
    return any(start <= at_ms < end for start, end in _openings(bh, zone, today, 1))


def next_open_ms(bh: dict, at_ms: int) -> int | None:
    """The first instant at or after at_ms when it is open (at_ms itself when open now); None when it
    does not open within SEARCH_DAYS local days."""
    if not bh["enabled"]:
        return at_ms
    zone = zoneinfo.ZoneInfo(bh["timezone"])
    for start, end in _openings(bh, zone, _local_date(zone, at_ms), SEARCH_DAYS + 1):
        if end > at_ms:
            return max(start, at_ms)
    return None


def next_close_ms(bh: dict, at_ms: int) -> int | None:
    """The first instant at or after at_ms when it is closed (at_ms itself when closed now); intervals
    that touch (17:00-24:00 then 00:00-08:00 the next day) count as one opening. None when it does not
    close within SEARCH_DAYS local days, and always when business hours are disabled."""
    if not bh["enabled"]:
        return None
    zone = zoneinfo.ZoneInfo(bh["timezone"])
    closes_at = None
    for start, end in _openings(bh, zone, _local_date(zone, at_ms), SEARCH_DAYS + 1):
        if closes_at is None:
            if end <= at_ms:
                continue
            if start > at_ms:
                return at_ms
            closes_at = end
        elif start <= closes_at:
            closes_at = max(closes_at, end)
        else:
            return closes_at
    return at_ms if closes_at is None else None


def availability(bh: dict, at_ms: int) -> dict:
    """The public `availability` object: whether a visitor reaches the team now, when it opens next
    (ISO 8601 UTC, null when open or never), the away messages as stored ("" = the widget's default),
    and whether the pre-chat form must ask for an e-mail (when closed)."""
    open_now = is_open(bh, at_ms)
    return {
        "open": open_now,
        "next_open_at": None if open_now else iso(next_open_ms(bh, at_ms)),
        "away_message": {lang: bh["away_messages"][lang] for lang in LANGUAGES},
        "email_required": not open_now,
    }


def _openings(bh: dict, zone: zoneinfo.ZoneInfo, first: dt.date, days: int):
    """(start_ms, end_ms) of each non-empty interval of `days` local dates from `first` on, in order
    (holidays left out)."""
    holidays = set(bh["holidays"])
    for offset in range(days):
        date = first + dt.timedelta(days=offset)
        if date.isoformat() in holidays:
            continue
        for start, end in bh["weekly"][DAYS[date.weekday()]]:
            start_ms, end_ms = _instant_ms(zone, date, start), _instant_ms(zone, date, end)
            if start_ms < end_ms:  # an interval wholly inside a spring-forward gap never happens
                yield start_ms, end_ms


def _local_date(zone: zoneinfo.ZoneInfo, at_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(at_ms // 1000, tz=zone).date()


def _instant_ms(zone: zoneinfo.ZoneInfo, date: dt.date, hh_mm: str) -> int:
    """Epoch ms of the local wall-clock time `hh_mm` on `date` ("24:00": the next day's 00:00)."""
    hours, minutes = int(hh_mm[:2]), int(hh_mm[3:])
    if hours == 24:
        date, hours = date + dt.timedelta(days=1), 0
    wall = dt.datetime(date.year, date.month, date.day, hours, minutes)
    # fold=0 is the first occurrence of an ambiguous time, and for a time in a gap the offset in
    # force before it (so the instant lands after the gap); fold=1 uses the offset after it.
    before = wall.replace(tzinfo=zone, fold=0)
    instant = before.astimezone(_UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        instant = _gap_end(zone, wall.replace(tzinfo=zone, fold=1).astimezone(_UTC), instant)
    return int(instant.timestamp()) * 1000


def _gap_end(zone: zoneinfo.ZoneInfo, early: dt.datetime, late: dt.datetime) -> dt.datetime:
    """The transition that opens a gap: the first UTC second in (early, late] with late's offset."""
    offset_after = late.astimezone(zone).utcoffset()
    low, high = int(early.timestamp()), int(late.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, tz=zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, tz=_UTC)


# ---- request and answer bodies ---------------------------------------------------------------------

_Time = Annotated[str, Field(max_length=5)]
# JSON arrays arrive as lists: the tuple takes them (strict=False) and is documented as an array of
# two strings (OpenAPI 3.0 has no prefixItems).
_Interval = Annotated[tuple[_Time, _Time], Field(strict=False), WithJsonSchema(
    {"type": "array", "items": {"type": "string", "maxLength": 5}, "minItems": 2, "maxItems": 2,
     "description": "[start, end]: \"HH:MM\" local time, start 00:00-23:59, end after it, up to 24:00."})]
_Day = Annotated[list[_Interval], Field(max_length=MAX_INTERVALS_PER_DAY)] | None
_AwayMessage = Annotated[str, Field(max_length=2000, description=f"At most {MAX_AWAY_MESSAGE_CHARS} characters "
                                                                   "once trimmed; empty: the widget's default.")]


class WeeklyPatch(Body):
    mon: _Day = None
    tue: _Day = None
    wed: _Day = None
    thu: _Day = None
    fri: _Day = None
    sat: _Day = None
    sun: _Day = None


class AwayMessagesPatch(Body):
    en: _AwayMessage | None = None
    es: _AwayMessage | None = None
    fr: _AwayMessage | None = None
    de: _AwayMessage | None = None


class BusinessHoursPatch(Body):
    enabled: bool | None = None
    timezone: Annotated[str, Field(max_length=64, description="An IANA time zone, e.g. Europe/Berlin.")] | None = None
    weekly: WeeklyPatch | None = Field(None, description="Only the days given change; [] closes a day. At most "
                                                         f"{MAX_INTERVALS_PER_DAY} non-overlapping intervals a day.")
    holidays: Annotated[list[Annotated[str, Field(max_length=10)]], Field(
        max_length=MAX_HOLIDAYS, description="YYYY-MM-DD local dates, closed all day (replaces the list).")] | None = None
    away_messages: AwayMessagesPatch | None = Field(None, description="Only the languages given change.")

    def changes(self) -> dict:
        """The fields given, as check() takes them."""
        return self.model_dump(exclude_none=True)


class WeeklyOut(BaseModel):
    mon: list[_Interval]
    tue: list[_Interval]
    wed: list[_Interval]
    thu: list[_Interval]
    fri: list[_Interval]
    sat: list[_Interval]
    sun: list[_Interval]


class AwayMessagesOut(BaseModel):
    en: str
    es: str
    fr: str
    de: str


class BusinessHoursOut(BaseModel):
    enabled: bool
    timezone: str
    weekly: WeeklyOut
    holidays: list[str]
    away_messages: AwayMessagesOut


class AvailabilityOut(BaseModel):
    open: bool = Field(description="Always true when business hours are disabled.")
    next_open_at: str | None = Field(description="ISO 8601 UTC; null when open (or no opening within 400 days).")
    away_message: AwayMessagesOut
    email_required: bool = Field(description="Closed: the pre-chat form requires an e-mail.")
