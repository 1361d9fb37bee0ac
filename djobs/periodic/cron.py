"""Cron expressions: parsing, validation and the ticks they produce in a time zone (pure).

An expression is one of:

- five fields, ``minute hour day-of-month month day-of-week`` (``"0 9 * * 1-5"``);
- six fields with **seconds first**, ``second minute hour dom month dow``
  (``"*/10 * * * * *"``: every ten seconds), as in Quartz and sidekiq-cron;
- a nickname: ``@hourly``, ``@daily`` (= ``@midnight``), ``@weekly``,
  ``@monthly``, ``@yearly`` (= ``@annually``).

Ticks are computed by croniter on wall-clock time in the schedule's zoneinfo
time zone, so daylight saving time follows croniter's rules. For Europe/Paris:

- spring forward (last Sunday of March, 02:00 -> 03:00): a tick in the missing
  hour, such as ``30 2 * * *``, fires once at 03:00 CEST, the first instant
  after the gap; the next day it is back at 02:30.
- fall back (last Sunday of October, 03:00 -> 02:00): wall-clock 02:30 happens
  twice, and ``30 2 * * *`` fires at both instants, 02:30 CEST (00:30 UTC) then
  02:30 CET (01:30 UTC). Schedules outside 02:00-02:59, or in UTC, are
  unaffected.

Every function takes and returns aware datetimes; a tick is a precise instant,
whatever the zone it is displayed in. Arithmetic on instants is done in UTC,
since wall-clock arithmetic in a zone can land in a DST gap.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

NICKNAMES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_EXAMPLES = "for example '0 9 * * *' (every day at 09:00), '*/10 * * * *' or '@hourly'"
_ONE_MICROSECOND = timedelta(microseconds=1)


class InvalidCron(ValueError):
    """A cron expression croniter cannot read; the message names it and the fix."""


class UnknownTimeZone(ValueError):
    """A time zone name zoneinfo does not know; the message names it and the fix."""


@dataclass(frozen=True)
class CronExpression:
    """A validated expression: ``fields`` are what croniter evaluates."""

    source: str
    fields: str
    has_seconds: bool

    def __str__(self) -> str:
        return self.source


def parse_cron(expression: str) -> CronExpression:
    """Return the validated expression, or raise InvalidCron naming the value and the fix."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidCron(f"cron expression {expression!r} is empty or not a string; use {_EXAMPLES}.")
    return _parse(" ".join(expression.split()))


@functools.lru_cache(maxsize=512)
def _parse(source: str) -> CronExpression:
    if source.startswith("@"):
        fields = NICKNAMES.get(source.lower())
        if fields is None:
            raise InvalidCron(
                f"cron expression {source!r} is not a known nickname; use one of "
                f"{', '.join(NICKNAMES)}, or five cron fields."
            )
        return CronExpression(source=source, fields=fields, has_seconds=False)
    count = len(source.split(" "))
    if count not in (5, 6):
        raise InvalidCron(
            f"cron expression {source!r} has {count} field(s); use five "
            "(minute hour day-of-month month day-of-week), six with seconds first, "
            f"or a nickname: {_EXAMPLES}."
        )
    has_seconds = count == 6
    try:
        croniter(source, datetime(2000, 1, 1), second_at_beginning=has_seconds).get_next(datetime)
    except CroniterBadDateError:
        raise InvalidCron(
            f"cron expression {source!r} never matches a real date (such as 30 February); "
            "check the day-of-month and month fields."
        ) from None
    except (CroniterError, ValueError, KeyError, TypeError) as exc:
        raise InvalidCron(f"cron expression {source!r} is not valid ({exc}); use {_EXAMPLES}.") from None
    return CronExpression(source=source, fields=source, has_seconds=has_seconds)


def time_zone(name: str) -> tzinfo:
    """Return the zoneinfo zone called ``name``, or raise UnknownTimeZone with close names."""
    if isinstance(name, str) and name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise UnknownTimeZone(f"time zone {name!r} is not known to zoneinfo; {_zone_hint(name)}")


def _zone_hint(name: object) -> str:
    import difflib

    zones = _available_zones()
    text = str(name)
    close = difflib.get_close_matches(text, zones, n=1, cutoff=0.6)
    if not close:
        lowered = {zone.lower(): zone for zone in zones}
        match = lowered.get(text.lower())
        close = [match] if match else []
    if close:
        return f"did you mean {close[0]!r}?"
    return "use an IANA name such as 'UTC' or 'Europe/Paris'."


@functools.lru_cache(maxsize=1)
def _available_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _utc(instant: datetime) -> datetime:
    """Return ``instant`` in UTC, where adding a microsecond is plain arithmetic."""
    if instant.tzinfo is None:
        raise ValueError(f"{instant!r} is naive; pass an aware datetime.")
    return instant.astimezone(UTC)


def _iterator(cron: CronExpression, zone: tzinfo, start: datetime, *, is_prev: bool = False) -> croniter:
    if start.tzinfo is None:
        raise ValueError(f"{start!r} is naive; pass an aware datetime.")
    # Through UTC: astimezone() to the same zone returns its input unchanged, and
    # wall-clock arithmetic on it may have produced a time that does not exist.
    local = start.astimezone(UTC).astimezone(zone)
    return croniter(cron.fields, local, is_prev=is_prev, second_at_beginning=cron.has_seconds)


def next_tick(cron: CronExpression, zone: tzinfo, after: datetime) -> datetime:
    """Return the first tick strictly after ``after``, in ``zone``."""
    result: datetime = _iterator(cron, zone, after).get_next(datetime)
    return result


def next_ticks(cron: CronExpression, zone: tzinfo, after: datetime, count: int) -> list[datetime]:
    """Return the ``count`` ticks following ``after``, in ``zone``."""
    iterator = _iterator(cron, zone, after)
    return [iterator.get_next(datetime) for _ in range(count)]


def latest_tick(cron: CronExpression, zone: tzinfo, at_or_before: datetime) -> datetime:
    """Return the last tick at or before ``at_or_before``, in ``zone``."""
    # get_prev is strictly before its start, so start just after the instant.
    result: datetime = _iterator(cron, zone, _utc(at_or_before) + _ONE_MICROSECOND, is_prev=True).get_prev(
        datetime
    )
    return result


def ticks_between(
    cron: CronExpression, zone: tzinfo, first: datetime, until: datetime, limit: int
) -> list[datetime]:
    """Return the ticks from ``first`` (inclusive) to ``until`` (inclusive), at most ``limit``."""
    ticks: list[datetime] = []
    until = _utc(until)
    if _utc(first) > until or limit <= 0:
        return ticks
    iterator = _iterator(cron, zone, _utc(first) - _ONE_MICROSECOND)
    while len(ticks) < limit:
        tick: datetime = iterator.get_next(datetime)
        if _utc(tick) > until:
            break
        ticks.append(tick)
    return ticks


def is_tick(cron: CronExpression, zone: tzinfo, instant: datetime) -> bool:
    """Say whether ``instant`` is a tick of ``cron`` in ``zone`` (DST-shifted ticks included)."""
    # Compared in UTC: within one zone, Python compares wall clocks and ignores DST's fold.
    return _utc(next_tick(cron, zone, _utc(instant) - _ONE_MICROSECOND)) == _utc(instant)
