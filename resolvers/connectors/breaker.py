"""A per-partner circuit breaker: after repeated failures, stop calling the partner for a cool-down, then
let one trial call through. Keeps a dead partner from eating every request's deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 5
    cooldown_s: float = 10.0


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.settings.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def success(self) -> None:
        self._failures, self._opened_at, self._trial_in_flight = 0, None, False

    def failure(self) -> None:
        self._failures += 1
        if self._trial_in_flight or self._failures >= self.settings.failure_threshold:
            self._opened_at = self._clock()
        self._trial_in_flight = False
