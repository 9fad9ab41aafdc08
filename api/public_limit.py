"""The pace of requests to the public endpoints (those that take no API key), per client address.

Every request to a submitter's tracking routes counts, right code or wrong: at most `per_window`
requests from one address in each fixed window of `window_seconds` (`COMPLAINTS_PUBLIC_PER_MINUTE` a
minute), then 429 with `Retry-After` (whole seconds until the window ends). The count lives in
PostgreSQL (`public_request_counts`, one row per address, one upsert per request), so the limit holds
across every API process and survives restarts. Windows are aligned to the epoch, so every process
agrees on them; a process whose clock runs behind counts into the newer window another one opened.

This is on top of `api.ratelimit.FailureLimiter`, which slows the guessing of tracking codes far more.

Not limited here: `/healthz`, which orchestrators and the dev stack poll for readiness (a 429 would take
a healthy API out of service; restrict it at the proxy if it must be public), and the static docs.
The key is `request.client.host`: behind a reverse proxy, tell the server to trust forwarded headers
(uvicorn `--proxy-headers --forwarded-allow-ips=...`), or every submitter shares the proxy's budget.
"""

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import Request

from api.deps import ServicesDep
from api.errors import ApiError
from api.ratelimit import RateLimited
from store.db import Database
from store.ratelimits import count_request, forget_windows_before

# Every this many requests, a process deletes the rows of addresses whose window has ended.
SWEEP_EVERY = 1000


class PublicLimiter:
    """At most `per_window` requests per client address in each fixed window of `window_seconds`, counted in
    PostgreSQL."""

    def __init__(
        self,
        per_window: int,
        window_seconds: int = 60,
        clock: Callable[[], float] = time.time,
        sweep_every: int = SWEEP_EVERY,
    ) -> None:
        if per_window < 1 or window_seconds < 1:
            raise ValueError("per_window and window_seconds must be at least 1")
        self.per_window = per_window
        self.window_seconds = window_seconds
        self.clock = clock
        self._sweep_every = sweep_every
        self._requests = 0

    async def count(self, database: Database, client: str) -> None:
        """Count one request from `client`; raise RateLimited when it is over the limit of its window."""
        now = self.clock()
        window = datetime.fromtimestamp(now - now % self.window_seconds, UTC)
        requests, window_start = await count_request(database, client, window)
        self._requests += 1
        if self._requests % self._sweep_every == 0:
            await self._sweep(database, window)
        if requests > self.per_window:
            ends = window_start.timestamp() + self.window_seconds
            raise RateLimited(max(1, math.ceil(ends - now)))

    async def _sweep(self, database: Database, current_window: datetime) -> None:
        await forget_windows_before(database, current_window)


async def limit_public_requests(request: Request, services: ServicesDep) -> None:
    """A dependency of every public route: count the request against its address; 429 once over the limit."""
    limiter: PublicLimiter = request.app.state.public_limiter
    client = request.client.host if request.client else "unknown"
    try:
        await limiter.count(services.database, client)
    except RateLimited as limited:
        raise ApiError(
            429, "too_many_requests", f"too many requests from this address; retry in {limited.retry_after} s",
            headers={"Retry-After": str(limited.retry_after)},
        ) from None
