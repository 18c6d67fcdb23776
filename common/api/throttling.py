"""Request throttles that cost one cache increment per request.

DRF's ``SimpleRateThrottle`` keeps the time of every request in the window as one list
per client and rewrites it on every request: at 3000/minute that is a 27 KB pickle read
and written each time, which made a cached recommendation three times dearer
(``benchmarks/request_cost.py``). These count requests per fixed window instead; the
price is that a client may get up to twice its rate across a window boundary.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class FixedWindowThrottleMixin(SimpleRateThrottle):
    wait_seconds: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        counter = f"{key}:{window}"
        try:
            count = self.cache.incr(counter)
        except ValueError:  # the window's first request
            # add() does not overwrite a counter another process started meanwhile.
            count = 1 if self.cache.add(counter, 1, self.duration) else self.cache.incr(counter)
        if count > self.num_requests:
            self.wait_seconds = (window + 1) * self.duration - now
            return False
        return True

    def wait(self) -> float | None:
        return self.wait_seconds


class AnonFixedWindowThrottle(FixedWindowThrottleMixin, AnonRateThrottle):
    """``AnonRateThrottle``'s clients and rate (``anon``), counted per window."""


class UserFixedWindowThrottle(FixedWindowThrottleMixin, UserRateThrottle):
    """``UserRateThrottle``'s clients and rate (``user``), counted per window."""
