"""The admin lists' short cells: relative times, function names, dotted paths that wrap after a dot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from djobs.admin.display import dotted_breaks, job_name, relative_time, relative_words

NOW = datetime(2026, 1, 5, 9, 10, 11, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (42.9, "42 s"), (192, "3 min 12 s"), (34 * 60 + 5, "34 min"), (5 * 3600 + 180, "5 h 3 min"),
     (3 * 86400 + 7200, "3 d 2 h")],
)  # fmt: skip
def test_relative_words_keep_seconds_only_while_they_tell_times_apart(seconds: float, words: str) -> None:
    assert relative_words(seconds) == words


def test_relative_time_says_ago_or_in_and_gives_the_exact_time_on_hover() -> None:
    past = relative_time(NOW - timedelta(seconds=12), now=NOW)
    assert ">12 s ago</time>" in past
    assert 'title="2026-01-05 09:09:59.123 UTC"' in past
    assert ">in 4 min 5 s</time>" in relative_time(NOW + timedelta(seconds=245), now=NOW)
    assert relative_time(None) == "-"


def test_job_name_shows_the_function_with_its_module_on_hover() -> None:
    assert job_name("shop.jobs.send_<b>") == (
        '<span class="djobs-job-name" title="shop.jobs.send_&lt;b&gt;">send_&lt;b&gt;</span>'
    )


def test_dotted_paths_get_a_break_opportunity_after_each_dot_and_stay_escaped() -> None:
    assert dotted_breaks("shop.jobs.<x>") == "shop.<wbr>jobs.<wbr>&lt;x&gt;"
