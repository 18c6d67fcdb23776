"""The process cache holds values unpickled (common.cache.ProcessMemoryCache): the same
object back, expiry, add, incr, and the local-memory cache's bound on entries."""

from __future__ import annotations

import pytest
from django.core.cache import caches

from common.cache import ProcessMemoryCache


@pytest.fixture
def local() -> ProcessMemoryCache:
    cache = ProcessMemoryCache("test-process", {"OPTIONS": {"MAX_ENTRIES": 3, "CULL_FREQUENCY": 3}})
    cache.clear()
    return cache


def test_the_process_cache_is_this_backend() -> None:
    assert isinstance(caches["process"], ProcessMemoryCache)


def test_values_come_back_as_the_same_object(local) -> None:
    value = (1, frozenset({2}), {"k": [3]})
    local.set("a", value)
    assert local.get("a") is value
    assert local.get_many(["a", "missing"]) == {"a": value}
    assert local.get("missing", "default") == "default"


def test_expiry_add_incr_and_the_bound(local, monkeypatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("django.core.cache.backends.locmem.time.time", lambda: clock[0])
    local.set("short", "v", 10)
    assert local.add("short", "other") is False
    clock[0] += 11
    assert local.get("short") is None
    assert local.add("short", "other") is True and local.get("short") == "other"
    local.set("n", 1)
    assert local.incr("n", 4) == 5 and local.get("n") == 5
    with pytest.raises(ValueError):
        local.incr("absent")
    for key in "wxyz":
        local.set(key, key)
    assert len(local._cache) <= 3
