"""A cron expression in words, for the admin and ``manage.py jobs schedules`` (pure).

``describe("0 9 * * 1-5", "Europe/Paris")`` gives ``"every weekday at 09:00
(Europe/Paris)"``. Shapes this module does not put into words come back as
the expression itself (``"cron '5 4 1-7 */2 *' (UTC)"``), never as a wrong
sentence.
"""

from __future__ import annotations

from .cron import InvalidCron, parse_cron

_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_DAY_NAMES = {name[:3].lower(): i for i, name in enumerate(_DAYS)}
_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip
_MONTH_NAMES = {name[:3].lower(): i + 1 for i, name in enumerate(_MONTHS)}
_MAX_TIMES = 6


class _Unsupported(Exception):
    """A field shape this module does not describe."""


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> list[int]:
    """Expand a field of numbers, names, ranges and lists (no steps) into sorted values."""
    result: set[int] = set()
    for part in field.split(","):
        bounds = part.split("-")
        if len(bounds) > 2:
            raise _Unsupported(field)
        numbers = [_number(bound, names) for bound in bounds]
        start, end = numbers[0], numbers[-1]
        if not (low <= start <= end <= high):
            raise _Unsupported(field)
        result.update(range(start, end + 1))
    return sorted(result)


def _number(text: str, names: dict[str, int] | None) -> int:
    if text.isdigit():
        return int(text)
    if names and text.lower() in names:
        return names[text.lower()]
    raise _Unsupported(text)


def _step(field: str) -> int | None:
    """Return n for ``*/n``, None for anything else."""
    if field.startswith("*/") and field[2:].isdigit() and int(field[2:]) > 0:
        return int(field[2:])
    return None


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _every(n: int, unit: str) -> str:
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


def _time_phrase(second: str, minute: str, hour: str) -> tuple[str, bool]:
    """Return the time of day in words, and whether it is a frequency ("every 5 minutes")."""
    if second != "0":
        step = 1 if second == "*" else _step(second)
        if step is None or minute != "*" or hour != "*":
            raise _Unsupported(second)
        return _every(step, "second"), True
    if hour == "*":
        step = 1 if minute == "*" else _step(minute)
        if step is not None:
            return _every(step, "minute"), True
        minutes = _values(minute, 0, 59)
        return "every hour at " + _join([f":{m:02d}" for m in minutes]), True
    hour_step = _step(hour)
    if hour_step is not None:
        minutes = _values(minute, 0, 59)
        return _every(hour_step, "hour") + " at " + _join([f":{m:02d}" for m in minutes]), True
    hours = _values(hour, 0, 23)
    step = 1 if minute == "*" else _step(minute)
    if step is not None:
        if not _contiguous(hours):
            raise _Unsupported(hour)
        span = f"{hours[0]:02d}:00 to {hours[-1]:02d}:59"
        return f"{_every(step, 'minute')} from {span}", True
    minutes = _values(minute, 0, 59)
    times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
    if len(times) > _MAX_TIMES:
        raise _Unsupported(hour)
    return "at " + _join(times), False


def _contiguous(values: list[int]) -> bool:
    return values == list(range(values[0], values[-1] + 1))


def _day_phrase(dom: str, month: str, dow: str) -> str:
    """Return the days in words ("" for every day)."""
    months = [] if month == "*" else [_MONTHS[m - 1] for m in _values(month, 1, 12, _MONTH_NAMES)]
    of_months = _join(months) if months else "every month"
    parts = []
    if dom == "L":
        parts.append(f"on the last day of {of_months}")
    elif dom != "*":
        days = _values(dom, 1, 31)
        label = "on day " if len(days) == 1 else "on days "
        parts.append(f"{label}{_join([str(d) for d in days])} of {of_months}")
    if dow != "*":
        weekdays = sorted({d % 7 for d in _values(dow, 0, 7, _DAY_NAMES)})
        if len(weekdays) == 7:  # every weekday: every day, whatever the day of the month
            return f"every day in {_join(months)}" if months else ""
        if weekdays == [1, 2, 3, 4, 5]:
            named = "weekdays"
        elif weekdays == [0, 6]:
            named = "weekends"
        else:
            named = _join([_DAYS[d] + "s" for d in weekdays])
        parts.append(f"on {named}" + (f" in {_join(months)}" if months and dom == "*" else ""))
    if not parts and months:
        parts.append(f"every day in {_join(months)}")
    # Standard cron: with both day fields restricted, a day matching either runs.
    return " or ".join(parts)


def describe(expression: str, timezone: str = "UTC") -> str:
    """Return ``expression`` in words with its time zone, e.g. "every day at 09:00 (UTC)"."""
    try:
        cron = parse_cron(expression)
    except InvalidCron:
        return f"invalid cron {expression!r} ({timezone})"
    fields = cron.fields.split(" ")
    if not cron.has_seconds:
        fields = ["0", *fields]
    second, minute, hour, dom, month, dow = fields
    try:
        time, frequent = _time_phrase(second, minute, hour)
        days = _day_phrase(dom, month, dow)
    except (_Unsupported, IndexError):
        return f"cron {cron.source!r} ({timezone})"
    if not days:
        text = time if frequent else f"every day {time}"
    elif frequent:
        text = f"{time}, {days}"
    elif days in {f"on {d}s" for d in _DAYS} or days == "on weekdays":
        text = f"every {days[3:-1]} {time}"  # "every Monday at 09:00"
    else:
        text = f"{days} {time}"
    return f"{text} ({timezone})"
