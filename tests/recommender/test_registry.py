"""The model registry: which run is active, and its pipeline held by this process."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from recommender import registry
from recommender.models import ModelRun
from recommender.services.training import model_run_create, model_run_execute

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_active_run_before_the_first_training(db) -> None:
    ModelRun.objects.create(status="succeeded")
    assert registry.active_run() is None
    assert registry.active_model() is None


def test_the_trained_run_is_active_and_loaded_once(trained) -> None:
    assert registry.active_run() == trained
    model = registry.active_model()
    assert model.run_id == trained.id
    assert model.cache_namespace.startswith(f"{trained.id}.")
    assert registry.active_model() is model


def test_the_cached_path_asks_neither_database_nor_cache(
    trained, django_assert_num_queries, monkeypatch
) -> None:
    registry.active_model()
    cache_reads = []
    monkeypatch.setattr(cache, "get", lambda *args, **kwargs: cache_reads.append(args))

    with django_assert_num_queries(0):
        for _ in range(100):
            registry.active_model()
    assert cache_reads == []


def test_a_switch_is_announced_when_its_transaction_commits(db) -> None:
    first, second = (ModelRun.objects.create(status="succeeded") for _ in range(2))
    registry.active_run_set(run=first)
    assert cache.get(registry.ACTIVE_RUN_CACHE_KEY) == first.id

    with transaction.atomic():
        registry.active_run_set(run=second)
        assert cache.get(registry.ACTIVE_RUN_CACHE_KEY) == first.id

    assert cache.get(registry.ACTIVE_RUN_CACHE_KEY) == second.id
    assert list(registry.active_runs()) == [second]
    second.refresh_from_db()
    assert second.activated_at is not None


def test_a_switch_made_elsewhere_reaches_this_process_within_the_recheck(
    trained, fast_params, monkeypatch
) -> None:
    second = model_run_execute(
        run_id=model_run_create(triggered_by="test", params=fast_params).id, activate=False
    )
    # A clock of our own: training the second run may itself take longer than the recheck.
    clock = [1000.0]
    monkeypatch.setattr(registry.time, "monotonic", lambda: clock[0])
    registry.forget_process_state()
    assert registry.active_model().run_id == trained.id

    # Another process switched: only the shared cache knows; this one still trusts its
    # last read until LOCAL_RECHECK_SECONDS have passed.
    ModelRun.objects.filter(id=trained.id).update(is_active=False)
    ModelRun.objects.filter(id=second.id).update(is_active=True)
    cache.set(registry.ACTIVE_RUN_CACHE_KEY, second.id)
    clock[0] += registry.LOCAL_RECHECK_SECONDS / 2
    assert registry.active_model().run_id == trained.id

    clock[0] += registry.LOCAL_RECHECK_SECONDS
    assert registry.active_model().run_id == second.id


def test_forgetting_the_process_state_loads_the_model_again(trained) -> None:
    model = registry.active_model()
    registry.forget_process_state()
    reloaded = registry.active_model()
    assert reloaded is not model and reloaded.run_id == model.run_id
