from __future__ import annotations

import asyncio

import pytest

from rsgpt4v.generate.limiter import RateLimiter, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _acquire_times(limiter: RateLimiter, fake: FakeTime, costs: list[int]) -> list[float]:
    async def main():
        times = []
        for cost in costs:
            await limiter.acquire(cost)
            times.append(round(fake.now, 6))
        return times

    return asyncio.run(main())


def test_rpm_allows_one_second_burst_then_the_rate():
    fake = FakeTime()
    limiter = RateLimiter(rpm=120, clock=fake.clock, sleep=fake.sleep)  # 2 per second, burst 2
    assert _acquire_times(limiter, fake, [0] * 6) == [0.0, 0.0, 0.5, 1.0, 1.5, 2.0]


def test_rpm_never_exceeds_the_limit_in_any_minute():
    fake = FakeTime()
    limiter = RateLimiter(rpm=30, clock=fake.clock, sleep=fake.sleep)
    times = _acquire_times(limiter, fake, [0] * 100)
    for k, start in enumerate(times):
        assert sum(1 for t in times[k:] if t < start + 60) <= 30 + 1  # the one-request burst


def test_tpm_large_request_waits_for_full_bucket_and_goes_into_debt():
    fake = FakeTime()
    limiter = RateLimiter(tpm=600, clock=fake.clock, sleep=fake.sleep)  # 10 tokens/s, capacity 10
    # 30 tokens: allowed at once (bucket full), level -20; next 5 tokens needs (5 + 20) / 10 = 2.5 s
    assert _acquire_times(limiter, fake, [30, 5]) == [0.0, 2.5]


def test_settle_returns_unused_tokens():
    fake = FakeTime()
    limiter = RateLimiter(tpm=600, clock=fake.clock, sleep=fake.sleep)
    _acquire_times(limiter, fake, [10])
    limiter.settle(10, 4)  # 6 tokens unused come back
    assert limiter.tokens.wait_time(6) == 0.0
    assert limiter.tokens.wait_time(10) == pytest.approx(0.4)
    limiter.settle(4, 14)  # 10 more used than estimated
    assert limiter.tokens.wait_time(10) == pytest.approx(1.4)


def test_both_limits_the_stricter_wins():
    fake = FakeTime()
    limiter = RateLimiter(rpm=600, tpm=60, clock=fake.clock, sleep=fake.sleep)  # 10 req/s but 1 token/s
    assert _acquire_times(limiter, fake, [1, 1, 1]) == [0.0, 1.0, 2.0]


def test_disabled_limiter_never_sleeps():
    fake = FakeTime()
    limiter = RateLimiter(clock=fake.clock, sleep=fake.sleep)
    assert not limiter.enabled
    assert _acquire_times(limiter, fake, [10**9] * 3) == [0.0, 0.0, 0.0]
    assert fake.sleeps == []


def test_bad_rate():
    with pytest.raises(ValueError, match="`rate_per_minute` must be positive, got 0"):
        TokenBucket(0)
