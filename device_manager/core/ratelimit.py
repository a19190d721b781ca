"""In-process token buckets: a general budget per token (or per IP without one) and a stricter budget of
failed authentications per IP. A client over budget gets 429 with ``Retry-After``."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TokenBuckets", "retry_after_header"]


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def _refill(self, key: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:  # forget full buckets first: they equal fresh ones
                self._buckets = {k: b for k, b in self._buckets.items() if b.tokens < self.burst}
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def take(self, key: str) -> float:
        """Consume one unit; returns 0 when allowed, else the seconds until one is available."""
        with self._lock:
            bucket = self._refill(key)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate

    def peek(self, key: str) -> float:
        """Seconds until ``key`` may proceed, without consuming (0 when it may now)."""
        with self._lock:
            bucket = self._refill(key)
            return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
