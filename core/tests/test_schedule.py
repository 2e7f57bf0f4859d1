"""forsun.schedule: delay intervals, and fixed-time matching checked against brute force."""

from __future__ import annotations

import datetime
import functools

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forsun.errors import ErrorCode, ForsunPlanError
from forsun.plan import Plan
from forsun.schedule import delay_interval, first_due, get_zone, next_due, next_match

ZONES = (
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "America/Santiago",
)
DAY = 86400
#: How far the property tests' brute-force references look ahead.
BOUND = 36 * 3600
EPOCH_1980 = 315532800
EPOCH_2040 = 2208988800


def at(text: str, zone: str) -> int:
    """The unix second of local time ``text`` (ISO, fold 0) in ``zone``."""
    local = datetime.datetime.fromisoformat(text).replace(tzinfo=get_zone(zone))
    return int(local.timestamp())


def reading(t: int, zone: str) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(t, get_zone(zone))


def matches(plan: Plan, local: datetime.datetime) -> bool:
    """The rule under test, written plainly: every fixed field equals the reading, week 0 and 7
    are Sunday, and with a fixed hour only the first pass of a repeated hour counts."""
    return (
        plan.second in (-1, local.second)
        and plan.minute in (-1, local.minute)
        and plan.hour in (-1, local.hour)
        and plan.day in (-1, local.day)
        and plan.month in (-1, local.month)
        and (plan.week == -1 or plan.week % 7 == local.isoweekday() % 7)
        and (plan.hour == -1 or local.fold == 0)
    )


def walk_seconds(plan: Plan, after: int, zone: str, bound: int) -> int | None:
    """The first matching second in ``(after, after + bound]``, reading every second."""
    tz = get_zone(zone)
    for t in range(after + 1, after + bound + 1):
        if matches(plan, datetime.datetime.fromtimestamp(t, tz)):
            return t
    return None


def walk_minutes(plan: Plan, after: int, zone: str, bound: int) -> int | None:
    """Same as :func:`walk_seconds`, reading once per UTC minute: valid for zones whose offsets
    are whole minutes and change on a minute (asserted), as all test zones do after 1980."""
    tz = get_zone(zone)
    any_second = attrs.evolve(plan, second=-1)
    for minute in range((after + 1) // 60 * 60, after + bound + 1, 60):
        local = datetime.datetime.fromtimestamp(minute, tz)
        assert local.second == 0
        if matches(any_second, local):
            t = max(minute, after + 1) if plan.second == -1 else minute + plan.second
            if after < t <= after + bound:
                return t
    return None


@functools.cache
def transitions(zone: str) -> tuple[int, ...]:
    """The offset changes of ``zone`` in 2024-2026, found by probing every 6 hours."""
    tz = get_zone(zone)
    found = []
    start = at("2024-01-01T00:00:00", "UTC")
    for low in range(start, start + 3 * 365 * DAY, 6 * 3600):
        high = low + 6 * 3600
        offset = reading(low, zone).utcoffset()
        if reading(high, zone).utcoffset() == offset:
            continue
        while high - low > 1:
            middle = (low + high) // 2
            if datetime.datetime.fromtimestamp(middle, tz).utcoffset() == offset:
                low = middle
            else:
                high = middle
        assert high % 60 == 0
        found.append(high)
    return tuple(found)


def test_test_zones_have_transitions() -> None:
    for zone in ZONES:
        expected = 0 if zone in ("UTC", "Asia/Kolkata") else 6
        assert len(transitions(zone)) == expected, zone


#: For each schedule field: its range, and how many draws out of ``[0, taken + any + high -
#: low]`` stand for "the value read soon after ``after``" (the low ones, which Hypothesis favours)
#: and for -1; the rest are random values. Random dates are rare because they seldom match
#: within the bound, and walking the whole bound is what makes an example slow.
FIELDS = {
    "second": (0, 59, 60, 60),
    "minute": (0, 59, 60, 60),
    "hour": (0, 23, 40, 40),
    "day": (1, 31, 240, 160),
    "month": (1, 12, 96, 120),
    "week": (0, 7, 60, 40),
}


def build_case(
    zone: str,
    where: int,
    which: int,
    anywhere: int,
    within_days: int,
    within_hours: int,
    ahead: int,
    draws: tuple[int, ...],
    sunday: int,
) -> tuple[Plan, int, str]:
    """A zone, an ``after`` (mostly within hours or days of a DST transition) and a fixed-time
    plan whose fields are -1, random or (most often) taken from the reading of a second soon
    after ``after``, so that matches tend to fall within the brute-force bound."""
    near = transitions(zone)
    if where == 0 or not near:
        after = anywhere
    else:
        after = near[which % len(near)] + (within_days if where == 1 else within_hours)
    soon = reading(after + ahead, zone)
    week = soon.isoweekday() % 7 or sunday
    taken = (soon.second, soon.minute, soon.hour, soon.day, soon.month, week)
    values = {}
    for (name, (low, _, taken_draws, any_draws)), drawn, value in zip(
        FIELDS.items(), draws, taken, strict=True
    ):
        if drawn < taken_draws:
            values[name] = value
        elif drawn < taken_draws + any_draws:
            values[name] = -1
        else:
            values[name] = low + drawn - taken_draws - any_draws
    return Plan(**values), after, zone


cases = st.tuples(
    st.sampled_from(ZONES),
    st.integers(0, 3),
    st.integers(0, 5),
    st.integers(EPOCH_1980, EPOCH_2040),
    st.integers(-2 * DAY, 2 * DAY),
    st.integers(-3 * 3600, 3 * 3600),
    st.integers(0, BOUND),
    st.tuples(
        *(
            st.integers(0, taken + anything + high - low)
            for low, high, taken, anything in FIELDS.values()
        )
    ),
    st.sampled_from((0, 7)),
).map(lambda args: build_case(*args))


@settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_next_match_agrees_with_brute_force(case: tuple[Plan, int, str]) -> None:
    plan, after, zone = case
    got = next_match(plan, after, get_zone(zone))
    expected = walk_minutes(plan, after, zone, BOUND)
    if expected is not None:
        assert got == expected
    elif got is not None:
        assert got > after + BOUND
        assert matches(plan, reading(got, zone))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases, st.integers(60, 3 * 3600))
def test_minute_walk_agrees_with_second_walk(case: tuple[Plan, int, str], bound: int) -> None:
    plan, after, zone = case
    assert walk_minutes(plan, after, zone, bound) == walk_seconds(plan, after, zone, bound)


def walk_dates(plan: Plan, after: int, zone: str, years: int) -> int | None:
    """For ``after`` one second before a local midnight in a zone without DST: the first match,
    found by reading every date for ``years`` years."""
    start = reading(after + 1, zone).date().toordinal()
    week = plan.week % 7
    for ordinal in range(start, start + years * 366):
        date = datetime.date.fromordinal(ordinal)
        if (
            plan.day in (-1, date.day)
            and plan.month in (-1, date.month)
            and (plan.week == -1 or week == date.isoweekday() % 7)
        ):
            time = f"{max(plan.hour, 0):02}:{max(plan.minute, 0):02}:{max(plan.second, 0):02}"
            return at(f"{date.isoformat()}T{time}", zone)
    return None


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(("UTC", "Asia/Kolkata")),
    st.dates(datetime.date(1990, 1, 1), datetime.date(2300, 1, 1)),
    st.tuples(*(st.integers(0, 59),) * 2, st.integers(0, 23)),
    st.one_of(st.just(-1), st.integers(1, 31), st.sampled_from((28, 29, 30, 31))),
    st.one_of(st.just(-1), st.integers(1, 12), st.just(2)),
    st.one_of(st.just(-1), st.integers(0, 7)),
)
def test_next_match_far_dates(
    zone: str,
    date: datetime.date,
    time: tuple[int, int, int],
    day: int,
    month: int,
    week: int,
) -> None:
    second, minute, hour = time
    plan = Plan(second=second, minute=minute, hour=hour, day=day, month=month, week=week)
    midnight = at(f"{date.isoformat()}T00:00:00", zone)
    got = next_match(plan, midnight - 1, get_zone(zone))
    assert got == walk_dates(plan, midnight - 1, zone, 50)


def test_feb_30_never_matches() -> None:
    plan = Plan(second=0, minute=0, hour=0, day=30, month=2)
    assert next_match(plan, 0, get_zone("UTC")) is None
    assert next_match(Plan(day=31, month=2), 0, get_zone("UTC")) is None
    assert next_match(Plan(day=31, month=4), 0, get_zone("Europe/London")) is None
    with pytest.raises(ForsunPlanError) as raised:
        first_due(plan, 1_700_000_000.5, get_zone("UTC"))
    assert raised.value.code == ErrorCode.TIME_NEVER_ARRIVES == 1002
    assert "day=30" in raised.value.message
    assert "month=2" in raised.value.message


def test_feb_29_waits_for_a_leap_year() -> None:
    plan = Plan(second=0, minute=0, hour=12, day=29, month=2)
    utc = get_zone("UTC")
    assert next_match(plan, at("2025-01-01T00:00:00", "UTC"), utc) == at(
        "2028-02-29T12:00:00", "UTC"
    )
    # 2100 is not a leap year.
    assert next_match(plan, at("2096-03-01T00:00:00", "UTC"), utc) == at(
        "2104-02-29T12:00:00", "UTC"
    )


def test_feb_29_on_a_given_weekday() -> None:
    utc = get_zone("UTC")
    sunday = Plan(second=0, minute=0, hour=0, day=29, month=2, week=0)
    assert next_match(sunday, at("2024-03-01T00:00:00", "UTC"), utc) == at(
        "2032-02-29T00:00:00", "UTC"
    )
    # Across 2100 (no Feb 29) the next Sunday Feb 29 is 32 years on.
    assert next_match(sunday, at("2096-03-01T00:00:00", "UTC"), utc) == at(
        "2128-02-29T00:00:00", "UTC"
    )
    assert next_match(sunday, at("9990-01-01T00:00:00", "UTC"), utc) is None


@pytest.mark.parametrize("week", [0, 7])
def test_week_0_and_7_are_sunday(week: int) -> None:
    plan = Plan(second=0, minute=0, hour=9, week=week)
    # 2024-06-05 is a Wednesday; the next Sunday is 2024-06-09.
    got = next_match(plan, at("2024-06-05T00:00:00", "UTC"), get_zone("UTC"))
    assert got == at("2024-06-09T09:00:00", "UTC")


def test_week_1_is_monday_and_6_saturday() -> None:
    utc = get_zone("UTC")
    wednesday = at("2024-06-05T00:00:00", "UTC")
    assert next_match(Plan(second=0, minute=0, hour=0, week=1), wednesday, utc) == at(
        "2024-06-10T00:00:00", "UTC"
    )
    assert next_match(Plan(second=0, minute=0, hour=0, week=6), wednesday, utc) == at(
        "2024-06-08T00:00:00", "UTC"
    )


def test_daily_0130_fires_once_on_fall_back_day() -> None:
    ny = get_zone("America/New_York")
    plan = Plan(second=0, minute=30, hour=1)
    first = next_match(plan, at("2024-11-02T12:00:00", "America/New_York"), ny)
    assert first == at("2024-11-03T05:30:00", "UTC")  # 01:30 EDT, the first pass
    assert next_match(plan, first, ny) == at("2024-11-04T06:30:00", "UTC")  # next day, EST


def test_any_hour_fires_in_both_passes_of_repeated_hour() -> None:
    ny = get_zone("America/New_York")
    plan = Plan(second=0, minute=30)
    t = at("2024-11-03T00:40:00", "America/New_York")
    fired = []
    for _ in range(3):
        t = next_match(plan, t, ny)
        fired.append(t)
    assert fired == [
        at("2024-11-03T05:30:00", "UTC"),  # 01:30 EDT
        at("2024-11-03T06:30:00", "UTC"),  # 01:30 EST
        at("2024-11-03T07:30:00", "UTC"),  # 02:30 EST
    ]


def test_daily_0230_skips_spring_forward_day() -> None:
    ny = get_zone("America/New_York")
    plan = Plan(second=0, minute=30, hour=2)
    got = next_match(plan, at("2024-03-09T12:00:00", "America/New_York"), ny)
    assert got == at("2024-03-11T02:30:00", "America/New_York")


def test_santiago_midnight_transitions() -> None:
    santiago = get_zone("America/Santiago")
    # 2024-09-08 00:00 does not exist (clocks jump from 24:00 to 01:00).
    midnight = Plan(second=0, minute=0, hour=0)
    got = next_match(midnight, at("2024-09-07T12:00:00", "America/Santiago"), santiago)
    assert got == at("2024-09-09T00:00:00", "America/Santiago")
    # 2024-04-06 23:00-24:00 happens twice; a fixed hour fires in the first pass only.
    late = Plan(second=0, minute=30, hour=23)
    first = next_match(late, at("2024-04-06T12:00:00", "America/Santiago"), santiago)
    assert first == at("2024-04-07T02:30:00", "UTC")
    assert next_match(late, first, santiago) == at("2024-04-07T23:30:00", "America/Santiago")


def test_time_always_skipped_by_dst_never_matches() -> None:
    chatham = get_zone("Pacific/Chatham")
    # Clocks go from 02:45 to 03:45 on the last Sunday of September, which a Sunday Sep 28
    # always is.
    plan = Plan(second=0, minute=0, hour=3, day=28, month=9, week=0)
    assert next_match(plan, at("2025-01-01T00:00:00", "UTC"), chatham) is None
    plan.week = -1
    got = next_match(plan, at("2025-01-01T00:00:00", "UTC"), chatham)
    assert got == at("2026-09-28T03:00:00", "Pacific/Chatham")


def test_nothing_after_year_9998() -> None:
    utc = get_zone("UTC")
    assert next_match(Plan(second=-1), at("9998-12-31T23:59:58", "UTC"), utc) == at(
        "9998-12-31T23:59:59", "UTC"
    )
    assert next_match(Plan(second=-1), at("9998-12-31T23:59:59", "UTC"), utc) is None
    assert next_match(Plan(second=-1), at("9999-12-31T00:00:00", "UTC"), utc) is None


def test_every_second_runs_through_transitions() -> None:
    for zone in ZONES[1:]:
        for transition in transitions(zone):
            for t in range(transition - 3, transition + 3):
                assert next_match(Plan(second=-1), t, get_zone(zone)) == t + 1


def test_delay_interval_sums_units_and_ignores_negatives() -> None:
    plan = Plan(second=5, minute=4, hour=3, day=2, month=1, week=1, is_time_out=True)
    assert delay_interval(plan) == 5 + 4 * 60 + 3 * 3600 + 2 * DAY + 30 * DAY + 7 * DAY
    negative = Plan(second=10, minute=-1, hour=-1, day=-5, month=-1, week=-1, is_time_out=True)
    assert delay_interval(negative) == 10


def test_delay_first_and_next_due() -> None:
    utc = get_zone("UTC")
    plan = Plan(second=30, minute=1, is_time_out=True, count=3)
    assert first_due(plan, 1000.9, utc) == 1090
    assert next_due(plan, 1090, utc) == 1180


def test_zero_interval_fires_once_at_once() -> None:
    utc = get_zone("UTC")
    once = Plan(second=0, is_time_out=True, count=1)
    assert first_due(once, 1000.9, utc) == 1000
    assert next_due(once, 1000, utc) is None
    for count in (0, 2):
        plan = Plan(second=0, minute=-1, is_time_out=True, count=count)
        with pytest.raises(ForsunPlanError) as raised:
            first_due(plan, 1000.0, utc)
        assert raised.value.code == ErrorCode.TIME_NEVER_ARRIVES
        assert "second" in raised.value.message


def test_fixed_first_and_next_due() -> None:
    utc = get_zone("UTC")
    plan = Plan(second=0, minute=0, hour=-1)
    now = at("2024-06-05T10:00:00", "UTC")
    assert first_due(plan, now + 0.5, utc) == now + 3600
    assert next_due(plan, now + 3600, utc) == now + 7200


def test_get_zone() -> None:
    assert get_zone("UTC") is datetime.UTC
    assert get_zone("Europe/London").utcoffset(datetime.datetime(2024, 7, 1)) == (
        datetime.timedelta(hours=1)
    )
    for name in ("Nowhere/Special", "", "../etc/passwd", "zone.tab"):
        with pytest.raises(ValueError, match="unknown time zone"):
            get_zone(name)


def test_a_date_with_second_to_month_set_fires_once_in_the_current_year() -> None:
    """As the original: a one-off date, refused once it has passed this year (1002), never
    due next year; week still filters it."""
    utc = get_zone("UTC")
    now = at("2024-06-05T10:00:00", "UTC")
    later = Plan(second=5, minute=4, hour=3, day=2, month=7)
    assert first_due(later, now + 0.5, utc) == at("2024-07-02T03:04:05", "UTC")
    assert next_due(later, at("2024-07-02T03:04:05", "UTC"), utc) is None
    for passed in (Plan(second=5, minute=4, hour=3, day=4, month=6),
                   Plan(second=0, minute=0, hour=10, day=5, month=6),
                   Plan(second=5, minute=4, hour=3, day=2, month=7, week=1)):  # a Tuesday
        with pytest.raises(ForsunPlanError) as raised:
            first_due(passed, now + 0.5, utc)
        assert raised.value.code == ErrorCode.TIME_NEVER_ARRIVES
    kolkata = get_zone("Asia/Kolkata")  # already 2025 there, still 2024 in UTC
    new_year = Plan(second=0, minute=30, hour=0, day=1, month=1)
    assert first_due(new_year, at("2024-12-31T18:59:00", "UTC"), kolkata) == at(
        "2025-01-01T00:30:00", "Asia/Kolkata")
    with pytest.raises(ForsunPlanError):
        first_due(new_year, at("2024-12-31T18:59:00", "UTC"), utc)
    every_year = Plan(second=5, minute=4, hour=3, day=2, month=-1)
    assert next_due(every_year, at("2024-07-02T03:04:05", "UTC"), utc) == at(
        "2024-08-02T03:04:05", "UTC")

