"""Requests-per-minute and tokens-per-minute limits as two token buckets shared by all concurrent requests.

Each bucket refills continuously at ``limit / 60`` per second and holds at most one second's worth (never less than
one unit), so a run never bursts a whole minute's budget at once: providers enforce their per-minute limits over
sub-minute windows. A request that costs more than a bucket holds waits until the bucket is full, then drives it
negative, so the long-run rate still never exceeds the limit. Token costs are estimated before a request is sent
and settled with the real usage afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter", "TokenBucket"]

_RECHECK_S = 0.25


class TokenBucket:
    """A continuously refilling bucket: ``rate_per_minute`` units per minute, at most ``capacity`` stored.

    Args:
        rate_per_minute: the sustained limit (units per minute); must be positive.
        capacity: the most units stored; defaults to one second's worth, at least 1.
        clock: monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self, rate_per_minute: float, capacity: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError(f"`rate_per_minute` must be positive, got {rate_per_minute!r}; pass None for no limit.")
        self.rate = rate_per_minute / 60.0
        self.capacity = float(capacity) if capacity is not None else max(1.0, self.rate)
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self, cost: float) -> float:
        """Seconds until ``cost`` units (or a full bucket, for a cost above capacity) are available."""
        self._refill()
        need = min(cost, self.capacity)
        return 0.0 if self._level >= need else (need - self._level) / self.rate

    def take(self, cost: float) -> None:
        """Remove ``cost`` units (the level may go negative for costs above capacity)."""
        self._refill()
        self._level -= cost

    def give_back(self, units: float) -> None:
        """Return units that were reserved but not used (capped at capacity)."""
        self._refill()
        self._level = min(self.capacity, self._level + units)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute limits for one endpoint; either may be ``None`` (no limit).

    Callers ``await acquire(estimated_tokens)`` before sending a request and call ``settle(estimated, actual)``
    when the response's usage is known. Waiters are served in arrival order.

    Args:
        rpm: requests per minute, or None.
        tpm: tokens (prompt + completion) per minute, or None.
        clock: monotonic clock in seconds (injectable for tests).
        sleep: the coroutine used to wait (injectable for tests).
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.requests = TokenBucket(rpm, clock=clock) if rpm else None
        self.tokens = TokenBucket(tpm, clock=clock) if tpm else None
        self._sleep = sleep
        self._lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return self.requests is not None or self.tokens is not None

    async def acquire(self, estimated_tokens: int = 0) -> None:
        """Wait until one request costing ``estimated_tokens`` may be sent, then reserve it."""
        if not self.enabled:
            return
        async with self._lock:  # FIFO: one waiter at a time owns the buckets' head.
            while True:
                wait = max(
                    self.requests.wait_time(1) if self.requests else 0.0,
                    self.tokens.wait_time(estimated_tokens) if self.tokens else 0.0,
                )
                if wait <= 0:
                    break
                await self._sleep(min(wait, _RECHECK_S))  # wake early: settled usage may have refilled the bucket
            if self.requests:
                self.requests.take(1)
            if self.tokens:
                self.tokens.take(estimated_tokens)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once the real usage of a request is known."""
        if self.tokens is None or actual_tokens == estimated_tokens:
            return
        if actual_tokens < estimated_tokens:
            self.tokens.give_back(estimated_tokens - actual_tokens)
        else:
            self.tokens.take(actual_tokens - estimated_tokens)
