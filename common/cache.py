"""Django's Redis cache, counted in django-prometheus' cache metrics; the process cache.

django-prometheus ships such a subclass, but its module also imports the django-redis
package, which this project does not use. Serving reads answers with ``get_many``, so
that is counted too: one get per key asked for, a hit per key found.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django_prometheus.cache.metrics import (
    django_cache_get_fail_total,
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)

BACKEND = "redis"


class RedisCache(DjangoRedisCache):
    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        django_cache_get_total.labels(backend=BACKEND).inc()
        try:
            value = super().get(key, default=None, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend=BACKEND).inc()
            raise
        if value is None:
            django_cache_misses_total.labels(backend=BACKEND).inc()
            return default
        django_cache_hits_total.labels(backend=BACKEND).inc()
        return value

    def get_many(self, keys: Iterable[str], version: int | None = None) -> dict[str, Any]:
        keys = list(keys)
        django_cache_get_total.labels(backend=BACKEND).inc(len(keys))
        try:
            found = super().get_many(keys, version=version)
        except Exception:
            django_cache_get_fail_total.labels(backend=BACKEND).inc(len(keys))
            raise
        django_cache_hits_total.labels(backend=BACKEND).inc(len(found))
        django_cache_misses_total.labels(backend=BACKEND).inc(len(keys) - len(found))
        return found


class ProcessMemoryCache(LocMemCache):
    """Django's local-memory cache holding values as they are, not pickled.

    The process level in front of the shared cache serves a cached recommendation on every
    request: unpickling one answer cost as much as the rest of the cache hit. Values are
    shared by reference, so what is stored here must never be mutated (frozen dataclasses,
    tuples, frozensets; dicts treated as read-only).
    """

    def add(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._set(key, value, timeout)
                return True
            return False

    def get(self, key: str, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                return default
            self._cache.move_to_end(key, last=False)
            return self._cache[key]

    def set(
        self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            self._set(key, value, timeout)

    def incr(self, key: str, delta: int = 1, version: Any = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        with self._lock:
            if self._has_expired(key):
                self._delete(key)
                raise ValueError(f"Key '{key}' not found")
            value = self._cache[key] + delta
            self._cache[key] = value
            self._cache.move_to_end(key, last=False)
        return value
