"""When a plan is due: delay intervals and fixed-time matching in the server's time zone.

Delay mode (``is_time_out`` true) fires every :func:`delay_interval` seconds. Fixed-time mode
matches the wall-clock reading of each unix second in the server's zone, like a cron line with
seconds: every field that is not -1 must equal its part of the reading.

Rules of the fixed-time match:

* ``week`` is the day of the week numbered like cron: 0 or 7 = Sunday, 1 = Monday ... 6 =
  Saturday. ``day`` is the day of the month. Dates that do not exist (Feb 30, Apr 31) never
  match; Feb 29 matches in leap years only.
* A second matches when its *local reading* matches, so local times skipped by a
  spring-forward gap never match (a daily 02:30 plan does not fire on that day).
* In the repeated hour of a fall-back transition the reading of a second in the second pass has
  ``fold=1``. If ``hour`` is fixed, only the first pass (``fold=0``) matches, so a daily 01:30
  plan fires once; with ``hour`` -1 both passes match (an every-minute plan keeps firing every
  minute through the repeated hour).
* A *one-off date*, a plan with every field from ``second`` to ``month`` set, fires once, in
  the local year it is created in, as the original forsun's did: once that date has passed
  it is refused (1002) rather than due next year (:func:`is_one_off`).
* A plan that cannot match before local year 9999 has no next occurrence. Dates, weekdays and
  time-zone rules repeat every 400 years once the zone's listed transitions are over (tzdata
  lists them up to 2087 at most; later ones follow a yearly rule), so the search stops 400
  years after the later of the start and 2100: a plan that never matches (such as Sep 28 at
  03:00 on a Sunday in Pacific/Chatham, where that hour is always skipped) costs a few ms.
"""

from __future__ import annotations

import datetime
import zoneinfo

from .errors import ErrorCode, ForsunPlanError
from .plan import SCHEDULE_FIELDS, Plan

_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
#: Longest month in any year (Feb 29 exists in leap years).
_MAX_DAYS_IN_MONTH = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_LAST_YEAR = 9998
#: From this year on every zone's rules repeat with the 400-year Gregorian cycle.
_PERIODIC_FROM = 2100
_CYCLE_YEARS = 400
#: Past this second every reading in any zone is in year 9999 or later.
_LAST_AFTER = int(datetime.datetime(_LAST_YEAR + 1, 1, 3, tzinfo=datetime.UTC).timestamp())
_SECOND = datetime.timedelta(seconds=1)


def get_zone(name: str) -> datetime.tzinfo:
    """The time zone called ``name`` (an IANA key such as ``Europe/London``; ``UTC`` is UTC).

    Raises :class:`ValueError` naming ``name`` if there is no such zone.
    """
    if name == "UTC":
        return datetime.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def delay_interval(plan: Plan) -> int:
    """Seconds between two firings of a delay plan: second + 60·minute + 3600·hour + 86400·day
    + 30·86400·month + 7·86400·week, negative fields counting as 0."""
    second, minute, hour, day, month, week = (plan.second, plan.minute, plan.hour, plan.day,
                                              plan.month, plan.week)
    # conditional expressions, not max(): this runs for every delay plan created or fired
    return ((second if second > 0 else 0) + 60 * (minute if minute > 0 else 0)
            + 3600 * (hour if hour > 0 else 0) + 86400 * (day if day > 0 else 0)
            + 30 * 86400 * (month if month > 0 else 0) + 7 * 86400 * (week if week > 0 else 0))


def next_match(plan: Plan, after: int, tz: datetime.tzinfo) -> int | None:
    """The smallest unix second ``t > after`` whose reading in ``tz`` matches the fixed-time
    fields of ``plan`` (see the module docstring for the week and DST rules), or ``None`` if
    there is none before year 9999. Fields must be in :data:`~forsun.plan.FIXED_RANGES`."""
    if after >= _LAST_AFTER:
        return None
    start = after + 1
    reading = datetime.datetime.fromtimestamp(start, tz)
    last_year = min(max(reading.year, _PERIODIC_FROM) + _CYCLE_YEARS, _LAST_YEAR)
    fields = _Fields.of(plan, last_year)
    if fields is None:
        return None
    here = reading.replace(tzinfo=None)
    # Local times taken with fold=0 map to instants in the same order, and so do local times
    # taken with fold=1; the two differ only inside a repeated hour. So the answer is the first
    # matching local time of each kind whose instant is >= start, found by scanning from the
    # first local time of that kind that qualifies. Away from a repeated hour both scans start
    # at `here` and fold 0 wins; in its second pass the fold-0 scan starts where the repeated
    # hour ends, in its first pass the fold-1 scan starts where it begins. Fold-1 readings
    # match only when hour is -1.
    scans = {0: here}
    if reading.fold:
        first_pass = _instant(here, tz, 0)
        second_pass_start = _offset_change(first_pass, start, tz)
        scans[0] = _local(second_pass_start, tz) + (start - first_pass) * _SECOND
        if fields.hour == -1:
            scans[1] = here
    elif fields.hour == -1:
        second_pass = _instant(here, tz, 1)
        if second_pass != start:
            scans[1] = _local(_offset_change(start, second_pass, tz), tz)
    found = [_scan(fields, local, tz, fold) for fold, local in scans.items()]
    return min((t for t in found if t is not None), default=None)


def is_one_off(plan: Plan) -> bool:
    """Whether ``plan`` is a fixed-time plan with every field from second to month set: a
    date that fires once (see the module docstring)."""
    return not plan.is_time_out and -1 not in (plan.second, plan.minute, plan.hour, plan.day,
                                               plan.month)


def first_due(plan: Plan, now: float, tz: datetime.tzinfo) -> int:
    """The first due second of a new plan created at ``now``.

    Delay mode: ``int(now) + delay_interval(plan)``; a zero interval is allowed only with
    ``count == 1`` (due at once, ``int(now)``). Fixed mode: :func:`next_match` after
    ``int(now)``, for a one-off date (:func:`is_one_off`) in the local year of ``now``.
    Raises :class:`ForsunPlanError` 1002 if the plan can never fire.
    """
    start = int(now)
    if plan.is_time_out:
        interval = delay_interval(plan)
        if interval == 0 and plan.count != 1:
            raise ForsunPlanError(
                ErrorCode.TIME_NEVER_ARRIVES,
                f"{', '.join(SCHEDULE_FIELDS)} give an interval of 0 seconds, "
                f"allowed only with count 1 (count is {plan.count})",
            )
        return start + interval
    due = next_match(plan, start, tz)
    fields = " ".join(f"{name}={getattr(plan, name)}" for name in SCHEDULE_FIELDS)
    if due is None:
        raise ForsunPlanError(
            ErrorCode.TIME_NEVER_ARRIVES, f"{fields} never match a time after {start} in {tz}"
        )
    if is_one_off(plan):
        year = datetime.datetime.fromtimestamp(start, tz).year
        if datetime.datetime.fromtimestamp(due, tz).year != year:
            raise ForsunPlanError(
                ErrorCode.TIME_NEVER_ARRIVES,
                f"{fields}: that date of {year} has passed in {tz} (a date with second to "
                f"month set fires once, in the current year)",
            )
    return due


def next_due(plan: Plan, after: int, tz: datetime.tzinfo) -> int | None:
    """The occurrence following the due second ``after``, or ``None`` if there is none.

    ``count`` is not considered (the engine stops a plan after its last firing). Delay mode:
    ``after + delay_interval(plan)`` (``None`` for a zero interval); fixed mode:
    :func:`next_match` (``None`` for a one-off date, :func:`is_one_off`).
    """
    if plan.is_time_out:
        interval = delay_interval(plan)
        return after + interval if interval else None
    if is_one_off(plan):
        return None
    return next_match(plan, after, tz)


def _instant(local: datetime.datetime, tz: datetime.tzinfo, fold: int) -> int:
    """The unix second of naive ``local`` in ``tz`` (PEP 495 ``fold`` semantics)."""
    return int(local.replace(tzinfo=tz, fold=fold).timestamp())


def _local(t: int, tz: datetime.tzinfo) -> datetime.datetime:
    """The naive local reading of unix second ``t`` in ``tz``."""
    return datetime.datetime.fromtimestamp(t, tz).replace(tzinfo=None)


def _offset_change(low: int, high: int, tz: datetime.tzinfo) -> int:
    """The first second in ``(low, high]`` whose UTC offset differs from that of ``low``,
    given that ``high``'s differs and there is one transition between them."""
    offset = datetime.datetime.fromtimestamp(low, tz).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.datetime.fromtimestamp(middle, tz).utcoffset() == offset:
            low = middle
        else:
            high = middle
    return high


def _scan(fields: _Fields, local: datetime.datetime, tz: datetime.tzinfo, fold: int) -> int | None:
    """The instant (taken with ``fold``) of the first matching local time at or after ``local``
    that exists in ``tz``; times in a spring-forward gap are skipped."""
    candidate = fields.local_on_or_after(local)
    while candidate is not None:
        t = _instant(candidate, tz, fold)
        if _local(t, tz) == candidate:
            return t
        # In a gap, fold=1 gives an instant before the transition and fold=0 one after it.
        transition = _offset_change(_instant(candidate, tz, 1), _instant(candidate, tz, 0), tz)
        gap_end = _local(transition, tz)
        candidate = fields.local_on_or_after(max(gap_end, candidate + _SECOND))
    return None


class _Fields:
    """The fixed-time fields of a plan (-1 = any, week 7 read as 0) and the search for the
    next matching naive local time."""

    __slots__ = ("_first_time", "day", "hour", "last_year", "minute", "month", "second", "week")

    def __init__(self, plan: Plan, last_year: int) -> None:
        self.last_year = last_year
        self.second = plan.second
        self.minute = plan.minute
        self.hour = plan.hour
        self.day = plan.day
        self.month = plan.month
        self.week = 0 if plan.week == 7 else plan.week
        self._first_time = datetime.time(
            max(self.hour, 0), max(self.minute, 0), max(self.second, 0)
        )

    @classmethod
    def of(cls, plan: Plan, last_year: int) -> _Fields | None:
        """The fields of ``plan`` searched up to ``last_year``, or ``None`` if its day never
        occurs in its month."""
        if plan.day != -1 and plan.month != -1 and plan.day > _MAX_DAYS_IN_MONTH[plan.month]:
            return None
        return cls(plan, last_year)

    def local_on_or_after(self, local: datetime.datetime) -> datetime.datetime | None:
        """The first naive time >= ``local`` matching every field, or ``None`` if that would be
        after ``last_year``."""
        date = self._date_on_or_after(local.year, local.month, local.day)
        if date is None:
            return None
        if date == local.date():
            time = self._time_on_or_after(local.hour, local.minute, local.second)
            if time is not None:
                return datetime.datetime.combine(date, time)
            tomorrow = date + datetime.timedelta(days=1)
            date = self._date_on_or_after(tomorrow.year, tomorrow.month, tomorrow.day)
            if date is None:
                return None
        return datetime.datetime.combine(date, self._first_time)

    def _date_on_or_after(self, year: int, month: int, day: int) -> datetime.date | None:
        """The first date >= year-month-day matching day, month and week."""
        while year <= self.last_year:
            if self.month != -1 and month != self.month:
                if month > self.month:
                    year += 1
                month, day = self.month, 1
                continue
            days = _DAYS_IN_MONTH[month] + (month == 2 and _is_leap(year))
            if self.day != -1:
                if day > self.day or self.day > days:
                    year, month, day = _next_month(year, month)
                    continue
                day = self.day
            if self.week != -1:
                date = datetime.date(year, month, day)
                shift = (self.week - date.isoweekday()) % 7
                if shift:
                    if self.day != -1 or day + shift > days:
                        year, month, day = _next_month(year, month)
                    else:
                        day += shift
                    continue
                return date
            return datetime.date(year, month, day)
        return None

    def _time_on_or_after(self, hour: int, minute: int, second: int) -> datetime.time | None:
        """The first time of day >= hour:minute:second matching hour, minute and second."""
        h = _at_least(self.hour, hour, 23)
        if h is None:
            return None
        if h == hour:
            m = _at_least(self.minute, minute, 59)
            if m == minute:
                s = _at_least(self.second, second, 59)
                if s is not None:
                    return datetime.time(h, m, s)
                m = _at_least(self.minute, minute + 1, 59)
            if m is not None:
                return datetime.time(h, m, max(self.second, 0))
            h = _at_least(self.hour, hour + 1, 23)
            if h is None:
                return None
        return datetime.time(h, max(self.minute, 0), max(self.second, 0))


def _at_least(field: int, low: int, high: int) -> int | None:
    """The smallest value >= ``low`` (and <= ``high``) that ``field`` (-1 = any) allows."""
    if field == -1:
        return low if low <= high else None
    return field if field >= low else None


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _next_month(year: int, month: int) -> tuple[int, int, int]:
    return (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)
