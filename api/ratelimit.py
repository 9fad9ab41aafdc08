"""A small in-process limiter for wrong tracking codes, per client address.

A reference and a tracking code are all a submitter has, so guessing codes must be slow: each client
address may get at most `max_failures` wrong answers (a wrong code, or an unknown reference: the two
look the same to the caller) in any sliding window of `window_seconds`. Once there, every attempt from
that address - even one with the right code - is refused with 429 and `Retry-After` (whole seconds
until the oldest failure leaves the window) without being looked at.

Each attempt counts as a failure from the moment it starts and is withdrawn when the code proves
right, so concurrent guesses from one address cannot slip past the limit between "check" and "record".

Limits of this design, on purpose:
- It is **per process**: with several API processes an address gets `max_failures` per process, and a
  restart forgets every count. A shared store (PostgreSQL, Redis) or the reverse proxy must limit
  across processes if that matters.
- The key is `request.client.host`. Behind a reverse proxy that is the proxy's address unless the
  server is told to trust forwarded headers (uvicorn `--proxy-headers --forwarded-allow-ips=...`).
- The clock is injectable (`clock`, monotonic seconds) so tests can move time.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Callable

DEFAULT_MAX_FAILURES = 10
DEFAULT_WINDOW_SECONDS = 600.0
# Above this many tracked addresses, addresses whose failures have all expired are dropped.
SWEEP_ABOVE_KEYS = 10_000


class RateLimited(Exception):
    """Too many failures from this address; try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failures; retry after {retry_after} s")
        self.retry_after = retry_after


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
            now = self._clock()
            failures = self._recent(key, now)
            if len(failures) >= self.max_failures:
                # Blocked until the oldest failure leaves the window.
                raise RateLimited(max(1, math.ceil(failures[0] + self.window_seconds - now)))
            failures.append(now)
            self._failures[key] = failures
            if len(self._failures) > SWEEP_ABOVE_KEYS:
                self._sweep(now)
            return now

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
            now = self._clock()
            failures = self._recent(key, now)
            if len(failures) < self.max_failures:
                return None
            return max(1, math.ceil(failures[0] + self.window_seconds - now))

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
