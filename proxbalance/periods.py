"""Migration windows and blackout periods: parse the ``automation.windows`` / ``automation.blackouts`` strings
and answer "is this instant inside one?" in a given IANA time zone. Pure: no clock, no I/O.

Forms (case-insensitive):

- ``HH:MM-HH:MM``                      every day
- ``DAYS HH:MM-HH:MM``                 DAYS = ``mon-fri``, ``sat,sun``, ``mon,wed-fri``, ``daily``, ``*``
- ``YYYY-MM-DD``                       that whole local day (blackouts only)
- ``YYYY-MM-DD..YYYY-MM-DD``           those whole local days, both included (blackouts only)
- ``YYYY-MM-DD HH:MM-HH:MM``           that day between those times (blackouts only)

An end at or before the start crosses midnight: ``fri 22:00-06:00`` runs from Friday 22:00 to Saturday 06:00
(the day names the day the period starts). ``00:00-00:00`` is the whole day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """One parsed entry. ``days`` are weekday numbers (0 = Monday) the period may START on; ``dates`` (when
    set) restricts the start to those local dates instead. Minutes are since local midnight."""

    text: str
    start_min: int
    end_min: int  # <= start_min: crosses midnight (or the whole day when equal)
    days: frozenset[int] = frozenset(range(7))
    dates: tuple[date, date] | None = None  # inclusive range of start dates

    def _starts_on(self, d: date) -> bool:
        if self.dates is not None:
            return self.dates[0] <= d <= self.dates[1]
        return d.weekday() in self.days

    def contains(self, local: datetime) -> bool:
        """Is the local (zone-aware) time inside this period?"""
        minute = local.hour * 60 + local.minute
        today, yesterday = local.date(), local.date() - timedelta(days=1)
        if self.end_min > self.start_min:  # same-day period
            return self._starts_on(today) and self.start_min <= minute < self.end_min
        # crosses midnight (or whole day when equal): the evening part today, the morning part from yesterday
        return (self._starts_on(today) and minute >= self.start_min) or \
            (self._starts_on(yesterday) and minute < self.end_min)


def _days(text: str) -> frozenset[int]:
    if text in ("daily", "*", "all"):
        return frozenset(range(7))
    out: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            if a not in DAYS or b not in DAYS:
                raise ValueError(f"unknown day in {part!r} (use mon..sun)")
            i, j = DAYS.index(a), DAYS.index(b)
            out.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part in DAYS:
            out.add(DAYS.index(part))
        else:
            raise ValueError(f"unknown day {part!r} (use mon..sun, mon-fri, daily)")
    return frozenset(out)


def _times(text: str, entry: str) -> tuple[int, int]:
    m = _TIME.match(text)
    if not m:
        raise ValueError(f"{entry!r}: expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(x) for x in m.groups())
    if not (0 <= h1 <= 23 and 0 <= h2 <= 23 and 0 <= m1 <= 59 and 0 <= m2 <= 59):
        raise ValueError(f"{entry!r}: hours 00-23, minutes 00-59")
    return h1 * 60 + m1, h2 * 60 + m2


def _date(text: str, entry: str) -> date:
    if not _DATE.match(text):
        raise ValueError(f"{entry!r}: expected a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{entry!r}: {text} is not a calendar date") from None


def parse_period(entry: str, *, allow_dates: bool = False) -> Period:
    """Parse one entry; ValueError saying what is wrong."""
    text = " ".join(entry.strip().lower().split())
    if not text:
        raise ValueError("empty period")
    parts = text.split(" ")
    if len(parts) == 1 and ("." in parts[0] or _DATE.match(parts[0])):  # whole days
        if not allow_dates:
            raise ValueError(f"{entry!r}: dates are for blackouts only")
        a, _, b = parts[0].partition("..")
        first, last = _date(a, entry), _date(b or a, entry)
        if last < first:
            raise ValueError(f"{entry!r}: the range ends before it starts")
        return Period(entry, 0, 0, dates=(first, last))
    if len(parts) == 1:
        start, end = _times(parts[0], entry)
        return Period(entry, start, end)
    if len(parts) != 2:
        raise ValueError(f"{entry!r}: expected '[DAYS] HH:MM-HH:MM'")
    start, end = _times(parts[1], entry)
    if _DATE.match(parts[0]):
        if not allow_dates:
            raise ValueError(f"{entry!r}: dates are for blackouts only")
        d = _date(parts[0], entry)
        return Period(entry, start, end, dates=(d, d))
    try:
        return Period(entry, start, end, days=_days(parts[0]))
    except ValueError as exc:
        raise ValueError(f"{entry!r}: {exc}") from None


def parse_periods(entries: list[str], *, allow_dates: bool = False) -> list[Period]:
    return [parse_period(e, allow_dates=allow_dates) for e in entries]


def local_time(now: float, tz: str) -> datetime:
    """Unix seconds -> zone-aware local datetime."""
    return datetime.fromtimestamp(now, ZoneInfo(tz))


def matching(periods: list[Period], now: float, tz: str) -> Period | None:
    """The first period containing ``now`` (Unix seconds) in zone ``tz``, or None."""
    local = local_time(now, tz)
    return next((p for p in periods if p.contains(local)), None)
