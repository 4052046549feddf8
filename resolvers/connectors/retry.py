"""When a failed partner call is tried again: only idempotent batch reads (all of ours are), only on failures
a second try can fix (connection errors, 502/503/504, 429), after a jittered backoff or the partner's own
Retry-After, never past the request's deadline, and only while the partner's retry budget lasts, so that a
sick partner sees at most a fraction more load instead of a multiple of it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, wait_random_exponential

from resolvers.source_errors import PartnerError

# Full jitter (AWS architecture blog): a random wait up to 20 ms, 40 ms, ... at most 200 ms.
_JITTER = wait_random_exponential(multiplier=0.02, max=0.2)


@dataclass(frozen=True, slots=True)
class RetrySettings:
    attempts: int = 2  # first try plus retries
    budget_ratio: float = 0.2  # retries may add at most this fraction of first tries...
    budget_reserve: float = 3.0  # ...plus this many, so a quiet partner can still be retried


class RetryBudget:
    """A token bucket per partner: every first try deposits `ratio` of a token, every retry takes one."""

    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings
        self._tokens = settings.budget_reserve

    def record_try(self) -> None:
        cap = self.settings.budget_reserve + 10 * self.settings.budget_ratio
        self._tokens = min(cap, self._tokens + self.settings.budget_ratio)

    def take(self) -> bool:
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False


def should_retry(budget: RetryBudget, deadline: float,
                 clock: Callable[[], float] = time.monotonic) -> Callable[[RetryCallState], bool]:
    def decide(state: RetryCallState) -> bool:
        if state.outcome is None or not state.outcome.failed:
            return False
        error = state.outcome.exception()
        if not isinstance(error, PartnerError) or not error.retryable:
            return False
        if clock() + (error.retry_after or 0.0) >= deadline:
            return False  # a retry that cannot finish in time only delays the answer
        return budget.take()

    return decide


def backoff(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    retry_after = getattr(error, "retry_after", None)
    return retry_after if retry_after is not None else _JITTER(state)
