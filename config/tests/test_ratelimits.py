"""The one rate limiter: counting, Retry-After, and each outage policy."""

from __future__ import annotations

import logging

import pytest
import time_machine

from config.exceptions import RateLimited, ServiceUnavailable
from config.ratelimits import Bucket, Outage, RateLimit

CLOSED = RateLimit(name="test closed", on_outage=Outage.FAIL_CLOSED, unavailable_message="Guard down.")
OPEN = RateLimit(name="test open", on_outage=Outage.FAIL_OPEN)


def test_the_request_over_the_rate_is_refused_with_the_seconds_left_in_the_window():
    bucket = Bucket("test.window", "client-1", "2/m")
    with time_machine.travel(1_800_000_000, tick=False):
        CLOSED.enforce([bucket])
        CLOSED.enforce([bucket])
        with pytest.raises(RateLimited) as refused:
            CLOSED.enforce([bucket], message="Slow down.", details={"limit_per_minute": 2})

    assert refused.value.message == "Slow down."
    assert refused.value.details == {"limit_per_minute": 2}
    assert 1 <= refused.value.retry_after <= 60


def test_a_per_minute_limit_refuses_past_its_count_and_names_the_limit():
    with time_machine.travel(1_800_000_000, tick=False):
        OPEN.enforce_per_minute("test.per_minute", "x", 1, message="One a minute.")
        with pytest.raises(RateLimited) as refused:
            OPEN.enforce_per_minute("test.per_minute", "x", 1, message="One a minute.")

    assert (refused.value.message, refused.value.details) == ("One a minute.", {"limit_per_minute": 1})
    assert 1 <= refused.value.retry_after <= 60


def test_another_value_has_its_own_allowance():
    with time_machine.travel(1_800_000_000, tick=False):
        OPEN.enforce([Bucket("test.values", "a", "1/m")])
        OPEN.enforce([Bucket("test.values", "b", "1/m")])
        with pytest.raises(RateLimited):
            OPEN.enforce([Bucket("test.values", "a", "1/m")])


def test_every_bucket_counts_and_the_longest_wait_wins():
    with time_machine.travel(1_800_000_000, tick=False):
        buckets = [Bucket("test.minute", "x", "1/m"), Bucket("test.hour", "x", "1/h")]
        assert CLOSED.wait_seconds(buckets) == 0
        wait = CLOSED.wait_seconds(buckets)

    assert 60 < wait <= 3600  # the hour's window, not the minute's


def test_switched_off_rate_limiting_counts_nothing(settings):
    settings.RATELIMIT_ENABLE = False
    for _ in range(3):
        CLOSED.enforce([Bucket("test.off", "x", "1/m")])


def test_fail_closed_refuses_with_503_when_the_cache_is_down(ratelimit_cache_down, caplog):
    with caplog.at_level(logging.ERROR, logger="campus.ratelimits"), pytest.raises(ServiceUnavailable) as refused:
        CLOSED.enforce([Bucket("test.down", "x", "5/m")])

    assert refused.value.code == "rate_limit_unavailable"
    assert refused.value.message == "Guard down."
    assert refused.value.retry_after == 5
    assert "test closed rate limit cannot count" in caplog.text


def test_fail_open_lets_the_request_through_and_logs_when_the_cache_is_down(ratelimit_cache_down, caplog):
    with caplog.at_level(logging.WARNING, logger="campus.ratelimits"):
        for _ in range(3):
            assert OPEN.wait_seconds([Bucket("test.down", "x", "1/m")]) == 0

    assert caplog.text.count("test open rate limit cannot count; letting the request through") == 3


def test_a_cache_that_gives_no_count_is_an_outage(monkeypatch):
    from django.core.cache import cache

    monkeypatch.setattr(cache, "add", lambda *args, **kwargs: False)
    monkeypatch.setattr(cache, "incr", lambda *args, **kwargs: None)

    assert OPEN.wait_seconds([Bucket("test.none", "x", "1/m")]) == 0
    with pytest.raises(ServiceUnavailable):
        CLOSED.wait_seconds([Bucket("test.none", "x", "1/m")])
