"""Cron evaluation (pure): parsing, nicknames, seconds, ticks in a time zone, DST, descriptions."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from djobs.periodic.cron import (
    InvalidCron,
    UnknownTimeZone,
    is_tick,
    latest_tick,
    next_tick,
    next_ticks,
    parse_cron,
    ticks_between,
    time_zone,
)
from djobs.periodic.describe import describe

PARIS = ZoneInfo("Europe/Paris")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def paris(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=PARIS, fold=fold)


@pytest.mark.parametrize(
    ("nickname", "first_tick_after_new_year"),
    [
        ("@hourly", paris(2026, 1, 1, 1, 0)),
        ("@daily", paris(2026, 1, 2, 0, 0)),
        ("@midnight", paris(2026, 1, 2, 0, 0)),
        ("@weekly", paris(2026, 1, 4, 0, 0)),  # the first Sunday
        ("@monthly", paris(2026, 2, 1, 0, 0)),
        ("@yearly", paris(2027, 1, 1, 0, 0)),
        ("@annually", paris(2027, 1, 1, 0, 0)),
    ],
)
def test_nicknames_tick_like_their_cron_fields(nickname: str, first_tick_after_new_year: datetime) -> None:
    assert next_tick(parse_cron(nickname), PARIS, paris(2026, 1, 1, 0, 0)) == first_tick_after_new_year


def test_a_nickname_is_case_insensitive_and_whitespace_is_normalised() -> None:
    assert parse_cron("@Daily").fields == "0 0 * * *"
    assert parse_cron("  0   9 * *  * ").source == "0 9 * * *"


def test_six_fields_put_seconds_first() -> None:
    every_ten_seconds = parse_cron("*/10 * * * * *")
    assert every_ten_seconds.has_seconds
    assert next_ticks(every_ten_seconds, UTC, utc(2026, 1, 5, 8, 0, 1), 3) == [
        utc(2026, 1, 5, 8, 0, 10),
        utc(2026, 1, 5, 8, 0, 20),
        utc(2026, 1, 5, 8, 0, 30),
    ]
    assert next_tick(parse_cron("30 0 9 * * *"), UTC, utc(2026, 1, 5)) == utc(2026, 1, 5, 9, 0, 30)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "cron expression '' is empty"),
        ("0 9 * *", "cron expression '0 9 * *' has 4 field(s); use five"),
        ("0 0 9 1 1 * 2030", "has 7 field(s)"),
        ("61 * * * *", "cron expression '61 * * * *' is not valid"),
        ("*/0 * * * *", "cron expression '*/0 * * * *' is not valid"),
        ("0 0 30 2 *", "'0 0 30 2 *' never matches a real date (such as 30 February)"),
        ("@reboot", "'@reboot' is not a known nickname; use one of @yearly"),
        ("every day", "has 2 field(s)"),
    ],
)
def test_an_invalid_expression_is_refused_naming_it_and_the_fix(expression: str, message: str) -> None:
    with pytest.raises(InvalidCron) as caught:
        parse_cron(expression)
    assert message in str(caught.value)


def test_a_non_string_expression_is_refused() -> None:
    with pytest.raises(InvalidCron, match="None is empty or not a string"):
        parse_cron(None)  # type: ignore[arg-type]


def test_an_unknown_time_zone_suggests_the_closest_name() -> None:
    with pytest.raises(
        UnknownTimeZone, match="'Europe/Pari' is not known to zoneinfo; did you mean 'Europe/Paris'"
    ):
        time_zone("Europe/Pari")
    with pytest.raises(UnknownTimeZone, match="did you mean 'Europe/Paris'"):
        time_zone("europe/paris")
    with pytest.raises(UnknownTimeZone, match="use an IANA name such as 'UTC'"):
        time_zone("")


def test_ticks_are_wall_clock_times_of_the_schedules_zone() -> None:
    tick = next_tick(parse_cron("0 9 * * *"), PARIS, utc(2026, 1, 5, 7, 0))
    assert tick == paris(2026, 1, 5, 9, 0)
    assert tick.astimezone(UTC) == utc(2026, 1, 5, 8, 0)  # CET is UTC+1 in winter
    summer = next_tick(parse_cron("0 9 * * *"), PARIS, utc(2026, 7, 1, 0, 0))
    assert summer.astimezone(UTC) == utc(2026, 7, 1, 7, 0)  # CEST is UTC+2


def test_next_tick_is_strictly_after_and_latest_tick_is_at_or_before() -> None:
    cron = parse_cron("0 9 * * *")
    nine = paris(2026, 1, 5, 9, 0)
    assert next_tick(cron, PARIS, nine) == paris(2026, 1, 6, 9, 0)
    assert latest_tick(cron, PARIS, nine) == nine
    assert latest_tick(cron, PARIS, paris(2026, 1, 5, 8, 59, 59)) == paris(2026, 1, 4, 9, 0)


def test_ticks_between_includes_both_ends_and_stops_at_the_limit() -> None:
    cron = parse_cron("0 * * * *")
    ticks = ticks_between(cron, UTC, utc(2026, 1, 5, 1), utc(2026, 1, 5, 4), limit=10)
    assert ticks == [utc(2026, 1, 5, h) for h in (1, 2, 3, 4)]
    assert ticks_between(cron, UTC, utc(2026, 1, 5, 1), utc(2026, 1, 5, 4), limit=2) == ticks[:2]
    assert ticks_between(cron, UTC, utc(2026, 1, 5, 5), utc(2026, 1, 5, 4), limit=10) == []


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="is naive; pass an aware datetime"):
        next_tick(parse_cron("@daily"), UTC, datetime(2026, 1, 1))


# Europe/Paris: 2026-03-29 02:00 CET -> 03:00 CEST (spring forward);
# 2026-10-25 03:00 CEST -> 02:00 CET (fall back).


def test_spring_forward_runs_a_tick_in_the_missing_hour_once_at_three() -> None:
    cron = parse_cron("30 2 * * *")
    ticks = next_ticks(cron, PARIS, paris(2026, 3, 28, 12, 0), 3)
    assert ticks == [paris(2026, 3, 29, 3, 0), paris(2026, 3, 30, 2, 30), paris(2026, 3, 31, 2, 30)]
    assert ticks[0].astimezone(UTC) == utc(2026, 3, 29, 1, 0)
    assert is_tick(cron, PARIS, ticks[0])


def test_fall_back_runs_a_tick_in_the_repeated_hour_twice() -> None:
    cron = parse_cron("30 2 * * *")
    ticks = next_ticks(cron, PARIS, paris(2026, 10, 24, 12, 0), 3)
    assert [t.astimezone(UTC) for t in ticks] == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET, an hour later
        utc(2026, 10, 26, 1, 30),
    ]
    assert [t.utcoffset().total_seconds() / 3600 for t in ticks] == [2, 1, 1]  # type: ignore[union-attr]


def test_dst_ticks_chain_through_utc_as_the_scheduler_stores_them() -> None:
    # The scheduler keeps next_run_at in UTC; chaining from each stored value
    # must give the same ticks as one iterator.
    cron = parse_cron("*/30 * * * *")
    start = utc(2026, 10, 25, 0, 0)
    chained, current = [], start
    for _ in range(6):
        current = next_tick(cron, PARIS, current).astimezone(UTC)
        chained.append(current)
    assert chained == [
        utc(2026, 10, 25, 0, 30),
        *[utc(2026, 10, 25, 1 + i // 2, 30 * (i % 2)) for i in range(5)],
    ]
    assert chained == [t.astimezone(UTC) for t in next_ticks(cron, PARIS, start, 6)]


def test_a_moment_that_is_not_a_tick_is_recognised() -> None:
    cron = parse_cron("0 9 * * *")
    assert is_tick(cron, PARIS, paris(2026, 1, 5, 9, 0))
    assert not is_tick(cron, PARIS, paris(2026, 1, 5, 10, 0))
    assert not is_tick(cron, UTC, paris(2026, 1, 5, 9, 0))  # 09:00 Paris is 08:00 UTC


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("0 9 * * *", "every day at 09:00 (Europe/Paris)"),
        ("@hourly", "every hour at :00 (Europe/Paris)"),
        ("@weekly", "every Sunday at 00:00 (Europe/Paris)"),
        ("@monthly", "on day 1 of every month at 00:00 (Europe/Paris)"),
        ("@yearly", "on day 1 of January at 00:00 (Europe/Paris)"),
        ("*/10 * * * *", "every 10 minutes (Europe/Paris)"),
        ("* * * * *", "every minute (Europe/Paris)"),
        ("* * * * * *", "every second (Europe/Paris)"),
        ("*/5 * * * * *", "every 5 seconds (Europe/Paris)"),
        ("0 9 * * 1-5", "every weekday at 09:00 (Europe/Paris)"),
        ("0 9 * * mon", "every Monday at 09:00 (Europe/Paris)"),
        ("0 9 * * 1,4", "on Mondays and Thursdays at 09:00 (Europe/Paris)"),
        ("0 9,17 * * *", "every day at 09:00 and 17:00 (Europe/Paris)"),
        ("15 */2 * * *", "every 2 hours at :15 (Europe/Paris)"),
        ("*/15 9-17 * * 1-5", "every 15 minutes from 09:00 to 17:59, on weekdays (Europe/Paris)"),
        ("0 0 L * *", "on the last day of every month at 00:00 (Europe/Paris)"),
        ("0 9 1 * 1", "on day 1 of every month or on Mondays at 09:00 (Europe/Paris)"),
        ("0 9 * * 0-6", "every day at 09:00 (Europe/Paris)"),
        ("5 4 1-7 */2 *", "cron '5 4 1-7 */2 *' (Europe/Paris)"),
        ("not cron", "invalid cron 'not cron' (Europe/Paris)"),
    ],
)
def test_describe_puts_common_expressions_into_words(expression: str, words: str) -> None:
    assert describe(expression, "Europe/Paris") == words


def test_both_ticks_of_the_repeated_hour_are_told_apart_by_their_fold() -> None:
    cron = parse_cron("30 2 * * *")
    summer_time, winter_time = paris(2026, 10, 25, 2, 30), paris(2026, 10, 25, 2, 30, fold=1)
    assert is_tick(cron, PARIS, summer_time) and is_tick(cron, PARIS, winter_time)
    assert next_tick(cron, PARIS, summer_time).astimezone(UTC) == winter_time.astimezone(UTC)
    between = ticks_between(cron, PARIS, summer_time, winter_time, limit=5)
    assert [t.astimezone(UTC) for t in between] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]
