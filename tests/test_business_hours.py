"""callcenter.business_hours: defaults, checks, merge, and open/closed at fixed instants, across both DST
changes of America/New_York (2026-03-08, 2026-11-01) and Europe/Berlin (2026-03-29, 2026-10-25).
All four changes fall on a Sunday, so Saturday / Sunday / Monday are the day before, of and after."""
from __future__ import annotations

import copy
import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pydantic
import pytest

from callcenter import business_hours as bh_mod
from callcenter.business_hours import (DEFAULTS, BusinessHoursOut, BusinessHoursPatch, availability, check,
                                       is_open, merge, next_close_ms, next_open_ms, settings_of)
from callcenter.errors import InvalidInput

NY, BERLIN = "America/New_York", "Europe/Berlin"
HOUR = 3_600_000
NINE_TO_FIVE = [["09:00", "17:00"]]


def utc_ms(y, mo, d, h=0, mi=0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=dt.timezone.utc).timestamp()) * 1000


def local_ms(zone: str, y, mo, d, h=0, mi=0, fold=0) -> int:
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(zone), fold=fold).timestamp()) * 1000


def hours(zone: str, weekly: dict | None = None, holidays=(), every_day=None, enabled=True) -> dict:
    days = {day: list(every_day or []) for day in bh_mod.DAYS}
    days.update(weekly or {})
    return {**copy.deepcopy(DEFAULTS), "enabled": enabled, "timezone": zone, "weekly": days,
            "holidays": list(holidays)}


# ---- the four DST changes: 09:00-17:00 every day -----------------------------------------------------

# (zone, local date, 09:00 and 17:00 of that date in UTC): the UTC hours move with the offset.
DST_DAYS = [
    (NY, (2026, 3, 7), utc_ms(2026, 3, 7, 14), utc_ms(2026, 3, 7, 22)),     # EST, UTC-5
    (NY, (2026, 3, 8), utc_ms(2026, 3, 8, 13), utc_ms(2026, 3, 8, 21)),     # EDT from 02:00
    (NY, (2026, 3, 9), utc_ms(2026, 3, 9, 13), utc_ms(2026, 3, 9, 21)),
    (NY, (2026, 10, 31), utc_ms(2026, 10, 31, 13), utc_ms(2026, 10, 31, 21)),  # EDT, UTC-4
    (NY, (2026, 11, 1), utc_ms(2026, 11, 1, 14), utc_ms(2026, 11, 1, 22)),  # EST from 02:00
    (NY, (2026, 11, 2), utc_ms(2026, 11, 2, 14), utc_ms(2026, 11, 2, 22)),
    (BERLIN, (2026, 3, 28), utc_ms(2026, 3, 28, 8), utc_ms(2026, 3, 28, 16)),  # CET, UTC+1
    (BERLIN, (2026, 3, 29), utc_ms(2026, 3, 29, 7), utc_ms(2026, 3, 29, 15)),  # CEST from 02:00
    (BERLIN, (2026, 3, 30), utc_ms(2026, 3, 30, 7), utc_ms(2026, 3, 30, 15)),
    (BERLIN, (2026, 10, 24), utc_ms(2026, 10, 24, 7), utc_ms(2026, 10, 24, 15)),  # CEST, UTC+2
    (BERLIN, (2026, 10, 25), utc_ms(2026, 10, 25, 8), utc_ms(2026, 10, 25, 16)),  # CET from 03:00
    (BERLIN, (2026, 10, 26), utc_ms(2026, 10, 26, 8), utc_ms(2026, 10, 26, 16)),
]


@pytest.mark.parametrize("zone, date, opens, closes", DST_DAYS, ids=[f"{z}-{d}" for z, d, _, _ in DST_DAYS])
def test_open_exactly_at_the_local_boundaries_around_dst(zone, date, opens, closes):
    bh = hours(zone, every_day=NINE_TO_FIVE)
    assert local_ms(zone, *date, 9) == opens and local_ms(zone, *date, 17) == closes  # the table is right
    assert not is_open(bh, opens - 1)
    assert is_open(bh, opens)
    assert is_open(bh, closes - 1)
    assert not is_open(bh, closes)
    midnight = local_ms(zone, *date)
    assert next_open_ms(bh, midnight) == opens
    assert next_open_ms(bh, opens + 5) == opens + 5  # open now: now
    assert next_close_ms(bh, opens) == closes
    assert next_close_ms(bh, midnight) == midnight  # closed now: now


def test_a_fixed_utc_offset_or_24_hour_days_would_have_been_wrong():
    bh = hours(NY, every_day=NINE_TO_FIVE)
    saturday_open = utc_ms(2026, 3, 7, 14)
    after_saturday = utc_ms(2026, 3, 7, 22)
    # Sunday and Monday open an hour earlier in UTC than "Saturday's opening + 24 h" / "09:00 at UTC-5".
    assert next_open_ms(bh, after_saturday) == saturday_open + 23 * HOUR
    assert next_open_ms(bh, after_saturday) != saturday_open + 24 * HOUR
    monday_0930_edt = utc_ms(2026, 3, 9, 13, 30)
    assert is_open(bh, monday_0930_edt)
    winter_local = dt.datetime.fromtimestamp(monday_0930_edt / 1000, tz=dt.timezone(dt.timedelta(hours=-5)))
    assert winter_local.hour == 8  # what a fixed offset would have called closed
    # Europe/Berlin in autumn: 07:30 UTC on the Sunday is 08:30 CET (closed), 09:30 at the summer offset.
    berlin = hours(BERLIN, every_day=NINE_TO_FIVE)
    assert not is_open(berlin, utc_ms(2026, 10, 25, 7, 30))
    assert is_open(berlin, utc_ms(2026, 10, 24, 7, 30))


# ---- the spring-forward gap and the fall-back hour -------------------------------------------------

def test_an_interval_starting_in_the_gap_opens_at_the_end_of_the_gap():
    # 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 does not exist.
    bh = hours(NY, {"sun": [["02:30", "04:00"]]})
    gap_end = utc_ms(2026, 3, 8, 7)
    assert gap_end == local_ms(NY, 2026, 3, 8, 3)
    assert not is_open(bh, gap_end - 1)
    assert is_open(bh, gap_end)
    assert next_open_ms(bh, utc_ms(2026, 3, 8, 5)) == gap_end
    assert next_close_ms(bh, gap_end) == utc_ms(2026, 3, 8, 8)  # 04:00 EDT
    # The same in Berlin: 02:30 on 2026-03-29 is 03:00 CEST = 01:00 UTC.
    berlin = hours(BERLIN, {"sun": [["02:30", "05:00"]]})
    assert next_open_ms(berlin, utc_ms(2026, 3, 28, 23)) == utc_ms(2026, 3, 29, 1)
    assert not is_open(berlin, utc_ms(2026, 3, 29, 1) - 1)


def test_an_interval_ending_in_the_gap_or_inside_it():
    ends_in_gap = hours(NY, {"sun": [["01:00", "02:30"]]})
    assert next_close_ms(ends_in_gap, utc_ms(2026, 3, 8, 6)) == utc_ms(2026, 3, 8, 7)  # 01:00 EST to 03:00 EDT
    assert not is_open(ends_in_gap, utc_ms(2026, 3, 8, 7))
    inside_gap = hours(NY, {"sun": [["02:10", "02:40"]]})  # never happens that day: next Sunday's
    assert next_open_ms(inside_gap, utc_ms(2026, 3, 8, 0)) == local_ms(NY, 2026, 3, 15, 2, 10)


def test_ambiguous_times_on_the_fall_back_day_are_their_first_occurrence():
    # 2026-11-01 in New York: 01:00-02:00 happens twice (EDT 05:00-06:00 UTC, then EST 06:00-07:00 UTC).
    bh = hours(NY, {"sun": [["01:30", "03:00"]]})
    first_0130 = utc_ms(2026, 11, 1, 5, 30)
    assert first_0130 == local_ms(NY, 2026, 11, 1, 1, 30, fold=0)
    assert not is_open(bh, first_0130 - 1)
    assert is_open(bh, first_0130)
    assert next_close_ms(bh, first_0130) == utc_ms(2026, 11, 1, 8)  # 03:00 EST: 2.5 hours later
    until_first = hours(NY, {"sun": [["00:00", "01:30"]]})
    assert is_open(until_first, first_0130 - 1)
    assert not is_open(until_first, utc_ms(2026, 11, 1, 6, 15))  # the second 01:15


def test_next_open_on_the_fall_back_day():
    bh = hours(NY, {"sun": NINE_TO_FIVE})
    before_change = utc_ms(2026, 11, 1, 5)  # 01:00 EDT
    assert next_open_ms(bh, before_change) == utc_ms(2026, 11, 1, 14)  # 09:00 EST
    assert next_open_ms(bh, before_change) != before_change + 8 * HOUR  # naive wall-clock arithmetic
    berlin = hours(BERLIN, {"sun": NINE_TO_FIVE})
    assert next_open_ms(berlin, utc_ms(2026, 10, 24, 23)) == utc_ms(2026, 10, 25, 8)


@pytest.mark.parametrize("zone, date, day_hours", [
    (NY, (2026, 3, 8), 23), (NY, (2026, 11, 1), 25), (BERLIN, (2026, 3, 29), 23), (BERLIN, (2026, 10, 25), 25),
])
def test_a_whole_day_interval_lasts_the_whole_local_day(zone, date, day_hours):
    bh = hours(zone, {"sun": [["00:00", "24:00"]]})
    start = local_ms(zone, *date)
    end = start + day_hours * HOUR
    next_day = dt.date(*date) + dt.timedelta(days=1)
    assert end == local_ms(zone, next_day.year, next_day.month, next_day.day)
    assert not is_open(bh, start - 1)
    assert is_open(bh, start) and is_open(bh, end - 1)
    assert not is_open(bh, end)
    assert next_close_ms(bh, start) == end


# ---- weekends, holidays, chained intervals ---------------------------------------------------------

def test_next_open_over_a_weekend_and_a_holiday():
    weekdays = {day: NINE_TO_FIVE for day in ("mon", "tue", "wed", "thu", "fri")}
    bh = hours(BERLIN, weekdays, holidays=["2026-03-30"])
    friday_close = utc_ms(2026, 3, 27, 16)  # 17:00 CET
    assert is_open(bh, friday_close - 1) and not is_open(bh, friday_close)
    assert not is_open(bh, utc_ms(2026, 3, 30, 9))  # the holiday Monday, at 11:00 CEST
    assert next_open_ms(bh, friday_close) == utc_ms(2026, 3, 31, 7)  # Tuesday 09:00 CEST
    no_holiday = hours(BERLIN, weekdays)
    assert next_open_ms(no_holiday, friday_close) == utc_ms(2026, 3, 30, 7)


def test_holidays_are_local_dates():
    bh = hours(NY, every_day=[["00:00", "24:00"]], holidays=["2026-03-10"])
    assert not is_open(bh, utc_ms(2026, 3, 11, 2))  # 22:00 on the 10th in New York, the 11th in UTC
    assert is_open(bh, utc_ms(2026, 3, 11, 4))  # local midnight of the 11th
    assert next_open_ms(bh, utc_ms(2026, 3, 10, 12)) == utc_ms(2026, 3, 11, 4)
    assert next_close_ms(bh, utc_ms(2026, 3, 9, 12)) == utc_ms(2026, 3, 10, 4)


def test_touching_intervals_close_once():
    bh = hours(NY, {"mon": [["08:00", "12:00"], ["12:00", "24:00"]], "tue": [["00:00", "06:00"]]})
    assert next_close_ms(bh, local_ms(NY, 2026, 3, 9, 8)) == local_ms(NY, 2026, 3, 10, 6)
    always = hours(NY, every_day=[["00:00", "24:00"]])
    assert next_close_ms(always, utc_ms(2026, 3, 9)) is None


def test_never_opening():
    bh = hours(NY)  # enabled, no intervals
    at = utc_ms(2026, 3, 9, 15)
    assert not is_open(bh, at)
    assert next_open_ms(bh, at) is None
    assert next_close_ms(bh, at) == at
    assert availability(bh, at)["next_open_at"] is None
    # An opening 400 local days ahead is still found; none beyond.
    holidays = [(dt.date(2026, 3, 9) + dt.timedelta(days=n)).isoformat() for n in range(0, 400, 7)]
    mondays_off = hours(NY, {"mon": NINE_TO_FIVE}, holidays=holidays[:57])
    assert next_open_ms(mondays_off, at) == local_ms(NY, 2027, 4, 12, 9)  # 399 days on
    assert next_open_ms(hours(NY, {"mon": NINE_TO_FIVE}, holidays=holidays), at) is None  # 406 days on


def test_disabled_is_always_open():
    bh = hours(NY, enabled=False)
    at = utc_ms(2026, 3, 8, 7)
    assert is_open(bh, at)
    assert next_open_ms(bh, at) == at
    assert next_close_ms(bh, at) is None
    assert availability(bh, at) == {"open": True, "next_open_at": None, "email_required": False,
                                    "away_message": {"en": "", "es": "", "fr": "", "de": ""}}


def test_availability_when_closed():
    bh = hours(NY, every_day=NINE_TO_FIVE)
    bh["away_messages"] = {"en": "We are away", "es": "", "fr": "", "de": "Wir sind weg"}
    out = availability(bh, utc_ms(2026, 3, 8, 22))  # Sunday 18:00 EDT
    assert out == {"open": False, "next_open_at": "2026-03-09T13:00:00.000Z", "email_required": True,
                   "away_message": {"en": "We are away", "es": "", "fr": "", "de": "Wir sind weg"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", out["next_open_at"])
    assert availability(bh, utc_ms(2026, 3, 9, 13))["next_open_at"] is None


# ---- stored settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("tenant", [{}, {"settings": {}}, {"settings": None}, {"settings": {"business_hours": "x"}},
                                    {"settings": {"business_hours": None}}, {"settings": "not parsed"}])
def test_a_tenant_without_business_hours_has_the_defaults(tenant):
    out = settings_of(tenant)
    assert out == DEFAULTS
    out["weekly"]["mon"].append(["09:00", "17:00"])
    out["away_messages"]["en"] = "changed"
    assert DEFAULTS["weekly"]["mon"] == [] and DEFAULTS["away_messages"]["en"] == ""
    assert is_open(settings_of(tenant), utc_ms(2026, 3, 8, 7))


def test_malformed_stored_values_read_as_defaults_key_by_key():
    stored = {"enabled": "yes", "timezone": "Mars/Olympus", "weekly": {"mon": [["09:00", "17:00"]], "tue": "x",
                                                                         "wed": [["10:00", "09:00"]]},
              "holidays": ["2026-02-30", "2026-12-25", "2026-01-01", "2026-12-25", 7], "away_messages": {"en": "Hi", "es": 5}}
    out = settings_of({"settings": {"business_hours": stored, "widget": {}}})
    assert out == {"enabled": False, "timezone": "UTC",
                   "weekly": {**DEFAULTS["weekly"], "mon": [["09:00", "17:00"]]},
                   "holidays": ["2026-01-01", "2026-12-25"],
                   "away_messages": {"en": "Hi", "es": "", "fr": "", "de": ""}}
    good = settings_of({"settings": {"business_hours": {"enabled": True, "timezone": BERLIN}}})
    assert good["enabled"] is True and good["timezone"] == BERLIN and good["weekly"] == DEFAULTS["weekly"]


# ---- checks and merge ------------------------------------------------------------------------------

def test_check_normalizes_a_partial_change():
    out = check({"enabled": True, "timezone": BERLIN, "weekly": {"mon": [("13:00", "24:00"), ["08:00", "12:00"]],
                                                                 "tue": [], "wed": None},
                 "holidays": ["2026-12-25", "2026-01-01", "2026-12-25"], "away_messages": {"fr": "  Fermé  "},
                 "routing_ignored_as_none": None})
    assert out == {"enabled": True, "timezone": BERLIN,
                   "weekly": {"mon": [["08:00", "12:00"], ["13:00", "24:00"]], "tue": []},
                   "holidays": ["2026-01-01", "2026-12-25"], "away_messages": {"fr": "Fermé"}}
    assert check({}) == {}
    assert check({"weekly": {"mon": [["09:00", "12:00"], ["12:00", "17:00"]]}}) == {
        "weekly": {"mon": [["09:00", "12:00"], ["12:00", "17:00"]]}}  # touching is not overlapping


@pytest.mark.parametrize("changes, code, words", [
    ({"timezone": "Mars/Olympus"}, "invalid_timezone", "Mars/Olympus"),
    ({"timezone": "America"}, "invalid_timezone", "America"),
    ({"timezone": "../etc/passwd"}, "invalid_timezone", "passwd"),
    ({"timezone": "localtime"}, "invalid_timezone", "localtime"),
    ({"timezone": ""}, "invalid_timezone", "IANA"),
    ({"weekly": {"tue": [["9:00", "17:00"]]}}, "invalid_hours", "weekly.tue"),
    ({"weekly": {"wed": [["24:00", "24:00"]]}}, "invalid_hours", "weekly.wed"),
    ({"weekly": {"thu": [["09:00", "24:01"]]}}, "invalid_hours", "weekly.thu"),
    ({"weekly": {"thu": [["09:60", "10:00"]]}}, "invalid_hours", "weekly.thu"),
    ({"weekly": {"fri": [["17:00", "09:00"]]}}, "invalid_hours", "weekly.fri"),
    ({"weekly": {"fri": [["09:00", "09:00"]]}}, "invalid_hours", "weekly.fri"),
    ({"weekly": {"sat": [["09:00", "10:00"]] * 5}}, "invalid_hours", "at most 4"),
    ({"weekly": {"sun": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "invalid_hours", "weekly.sun"),
    ({"weekly": {"mon": [["09:00"]]}}, "invalid_hours", "weekly.mon"),
    ({"weekly": {"mon": "09:00-17:00"}}, "invalid_hours", "weekly.mon"),
    ({"holidays": ["2026-02-30"]}, "invalid_holiday", "2026-02-30"),
    ({"holidays": ["20260101"]}, "invalid_holiday", "20260101"),
    ({"holidays": ["2026-1-01"]}, "invalid_holiday", "2026-1-01"),
    ({"holidays": [(dt.date(2026, 1, 1) + dt.timedelta(days=n)).isoformat() for n in range(101)]},
     "invalid_holiday", "at most 100"),
    ({"away_messages": {"en": "x" * 501}}, "invalid_input", "away_messages.en"),
    ({"away_messages": {"it": "Chiuso"}}, "invalid_input", "away_messages.it"),
    ({"weekly": {"monday": []}}, "invalid_input", "weekly.monday"),
    ({"enabled": "yes"}, "invalid_input", "enabled"),
    ({"hours": {}}, "invalid_input", "hours"),
])
def test_check_rejects(changes, code, words):
    with pytest.raises(InvalidInput) as caught:
        check(changes)
    assert caught.value.code == code and caught.value.status == 400
    assert words in caught.value.message


def test_check_accepts_limits():
    assert check({"away_messages": {"en": " " + "x" * 500 + "\n"}})["away_messages"]["en"] == "x" * 500
    assert check({"weekly": {"mon": [["00:00", "00:01"], ["23:59", "24:00"]]}})
    assert len(check({"holidays": ["2026-01-01"] * 150})["holidays"]) == 1  # deduplicated before counting


def test_merge_changes_only_the_given_days_and_languages():
    current = settings_of({"settings": {"business_hours": {
        "enabled": True, "timezone": NY, "weekly": {"mon": NINE_TO_FIVE, "tue": NINE_TO_FIVE},
        "holidays": ["2026-12-25"], "away_messages": {"en": "Away", "de": "Weg"}}}})
    before = copy.deepcopy(current)
    change = check({"weekly": {"mon": [], "sat": [["10:00", "14:00"]]}, "away_messages": {"de": ""},
                    "holidays": ["2026-07-04"]})
    out = merge(current, change)
    assert current == before  # not modified
    assert out["weekly"] == {**DEFAULTS["weekly"], "tue": NINE_TO_FIVE, "sat": [["10:00", "14:00"]]}
    assert out["away_messages"] == {"en": "Away", "es": "", "fr": "", "de": ""}
    assert out["holidays"] == ["2026-07-04"] and out["enabled"] is True and out["timezone"] == NY
    assert merge(current, check({"enabled": False})) == {**before, "enabled": False}
    assert settings_of({"settings": {"business_hours": out}}) == out  # what is stored reads back the same


# ---- request and answer models -----------------------------------------------------------------------

def test_patch_model_takes_json_and_feeds_check():
    body = json.loads('{"enabled": true, "timezone": "Europe/Berlin", "weekly": {"mon": [["09:00", "17:00"]]},'
                      ' "away_messages": {"en": " Closed "}}')
    patch = BusinessHoursPatch.model_validate(body)
    assert check(patch.changes()) == {"enabled": True, "timezone": BERLIN, "weekly": {"mon": [["09:00", "17:00"]]},
                                      "away_messages": {"en": "Closed"}}
    assert BusinessHoursPatch.model_validate({}).changes() == {}


@pytest.mark.parametrize("body", [
    {"extra": 1}, {"weekly": {"mon": [["09:00", "17:00"]] * 5}}, {"weekly": {"mon": [["09:00"]]}},
    {"weekly": {"mon": [["09:00", "17:000"]]}}, {"weekly": {"xyz": []}}, {"holidays": ["2026-01-01x"]},
    {"holidays": ["2026-01-01"] * 101}, {"away_messages": {"en": "x" * 2001}}, {"away_messages": {"it": ""}},
    {"enabled": "true"},
])
def test_patch_model_rejects(body):
    with pytest.raises(pydantic.ValidationError):
        BusinessHoursPatch.model_validate(body)


def test_out_model_and_schemas():
    full = settings_of({"settings": {"business_hours": {"weekly": {"fri": NINE_TO_FIVE}}}})
    assert BusinessHoursOut.model_validate(full).model_dump(mode="json") == full
    for model in (BusinessHoursPatch, BusinessHoursOut):
        for mode in ("validation", "serialization"):
            assert "prefixItems" not in json.dumps(model.model_json_schema(mode=mode))  # OpenAPI 3.0
