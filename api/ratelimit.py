"""Small in-process limiters: wrong tracking codes per case and per client address, submissions per key.

A reference and a tracking code are all a submitter has, so guessing codes must be slow. A wrong
answer (a wrong code, or an unknown reference: the two look the same to the caller) counts twice, in
sliding windows of `window_seconds`, and the two counts stop different things (`TrackingLimiter`):
- **per case**: once a case has had `max_failures_per_case` wrong codes, from however many addresses,
  every attempt on it - even with the right code - is refused with 429 and `Retry-After` until the
  oldest failure leaves the window: a case being guessed is locked for a while.
- **per address**: once an address has given `max_failures_per_address` wrong codes, it may not go on
  guessing: a case that already has a failure is refused without being looked at, and a wrong code
  for any other case is answered 429 instead of 404. The right code of a case that nobody was guessing
  still works from it, so one person behind a carrier's shared address does not lock out everyone
  behind it; and the address gets at most one more guess per case (that guess makes the case one
  being guessed).

Each attempt counts as a failure from the moment it starts and is withdrawn when the code proves
right, so concurrent guesses cannot slip past a limit between "check" and "record".

Limits of this design, on purpose:
- It is **per process**: with several API processes an address gets `max_failures` per process, and a
  restart forgets every count. A shared store (PostgreSQL, Redis) or the reverse proxy must limit
  across processes if that matters.
- The address is `request.client.host`. Behind a reverse proxy that is the proxy's address unless the
  server is told to trust forwarded headers (uvicorn `--proxy-headers --forwarded-allow-ips=...`).
- The clock is injectable (`clock`, monotonic seconds) so tests can move time.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_SECONDS = 600.0
# Above this many tracked addresses, addresses whose failures have all expired are dropped.
SWEEP_ABOVE_KEYS = 10_000


class RateLimited(Exception):
    """Too many failures for one key (an address, a case, a channel key); try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failures; retry after {retry_after} s")
        self.retry_after = retry_after


class GuessedCase(RateLimited):
    """Too many wrong codes for this case, from any address."""


class GuessingAddress(RateLimited):
    """Too many wrong codes from this address, which may not go on guessing."""


class FailureLimiter:
    """At most `max_failures` failures per key in any sliding window of `window_seconds`."""

    def __init__(
        self,
        max_failures: int = DEFAULT_MAX_FAILURES,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or window_seconds <= 0:
            raise ValueError("max_failures must be at least 1 and window_seconds positive")
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        # The API runs on one event loop, but a lock keeps the limiter correct if called from threads too.
        self._lock = threading.Lock()

    def attempt(self, key: str) -> float:
        """Start an attempt: raise RateLimited if the key is over its limit, else count it as a failure.

        Returns a token to pass to `succeeded` when the attempt turns out right.
        """
        with self._lock:
            if (wait := self._retry_after(key)) is not None:
                raise RateLimited(wait)
            return self._count(key)

    def count(self, key: str) -> float:
        """Count a failure for the key whatever its count; returns the token for `succeeded`."""
        with self._lock:
            return self._count(key)

    def failures(self, key: str) -> int:
        """How many failures of the key are in the window now (attempts under way included)."""
        with self._lock:
            return len(self._recent(key, self._clock()))

    def succeeded(self, key: str, token: float) -> None:
        """Withdraw the failure that `attempt` counted: the attempt was right."""
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return
            try:
                failures.remove(token)
            except ValueError:
                pass  # already expired from the window
            if not failures:
                del self._failures[key]

    def retry_after(self, key: str) -> int | None:
        """Seconds until the key may try again, or None if it may try now (does not count anything)."""
        with self._lock:
            return self._retry_after(key)

    def _retry_after(self, key: str) -> int | None:
        now = self._clock()
        failures = self._recent(key, now)
        if len(failures) < self.max_failures:
            return None
        # Blocked until the oldest failure leaves the window.
        return max(1, math.ceil(failures[0] + self.window_seconds - now))

    def _count(self, key: str) -> float:
        now = self._clock()
        failures = self._recent(key, now)
        failures.append(now)
        self._failures[key] = failures
        if len(self._failures) > SWEEP_ABOVE_KEYS:
            self._sweep(now)
        return now

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_seconds:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def _sweep(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)


@dataclass(frozen=True)
class TrackingAttempt:
    """An attempt under way, counted as a failure of its case and of its address until it proves right."""

    reference: str
    address: str
    case_token: float
    address_token: float
    # Seconds until the address may guess again, when it was over its limit: a wrong code is then a 429.
    address_over_limit: int | None


class TrackingLimiter:
    """Wrong tracking codes counted per case and per client address, apart (see the module's docstring)."""

    def __init__(
        self,
        max_failures_per_case: int = DEFAULT_MAX_FAILURES,
        max_failures_per_address: int = DEFAULT_MAX_FAILURES,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.by_case = FailureLimiter(max_failures_per_case, window_seconds, clock)
        self.by_address = FailureLimiter(max_failures_per_address, window_seconds, clock)
        # Both counts are read and written as one step.
        self._lock = threading.Lock()

    def attempt(self, reference: str, address: str) -> TrackingAttempt:
        """Start an attempt on a case: GuessedCase or GuessingAddress if it may not be tried now."""
        with self._lock:
            if (case_wait := self.by_case.retry_after(reference)) is not None:
                raise GuessedCase(case_wait)
            address_wait = self.by_address.retry_after(address)
            if address_wait is not None and self.by_case.failures(reference) > 0:
                raise GuessingAddress(address_wait)
            return TrackingAttempt(reference, address, self.by_case.count(reference),
                                   self.by_address.count(address), address_wait)

    def succeeded(self, attempt: TrackingAttempt) -> None:
        """The code was right: withdraw the attempt from both counts."""
        with self._lock:
            self.by_case.succeeded(attempt.reference, attempt.case_token)
            self.by_address.succeeded(attempt.address, attempt.address_token)
