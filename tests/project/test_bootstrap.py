"""``manage.py bootstrap`` (what ``make run`` runs before serving)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask
from movielens_files import write_grouplens

from ingestion.models import DatasetImport, Rating
from recommender.models import ModelRun
from recommender.services import training

pytestmark = pytest.mark.django_db


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap", "--base-url", "http://127.0.0.1:8000", stdout=out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def small_pipeline(monkeypatch, fast_params) -> None:
    defaults = training.default_params
    monkeypatch.setattr(training, "default_params", lambda: {**defaults(), **fast_params})


def test_first_start_loads_trains_and_creates_an_admin(settings, tmp_path: Path) -> None:
    settings.VIDEOREC_DATA_DIR = tmp_path
    write_grouplens(tmp_path / "ml-100k")

    output = bootstrap()

    assert Rating.objects.count() == 6
    # Six ratings are too few to train a ranker: the failure is reported, serving goes on.
    run = ModelRun.objects.get()
    assert run.status == ModelRun.Status.FAILED
    assert "too few ratings to train the ranker" in run.error
    password = (tmp_path / "admin-password.txt").read_text().strip()
    assert get_user_model().objects.get(username="admin").check_password(password)
    assert f"user admin, password {password}" in output
    for url in ("http://127.0.0.1:8000/", "/admin/", "/docs"):
        assert url in output
    assert PeriodicTask.objects.filter(task="recommender.scheduled_retrain").exists()


def test_an_existing_database_is_trained_once(settings, tmp_path, synthetic_ratings) -> None:
    settings.VIDEOREC_DATA_DIR = tmp_path

    bootstrap()
    bootstrap()

    assert ModelRun.objects.get().is_active
    assert not DatasetImport.objects.exists()


def test_later_starts_neither_reload_nor_touch_accounts(settings, tmp_path: Path) -> None:
    settings.VIDEOREC_DATA_DIR = tmp_path
    write_grouplens(tmp_path / "ml-100k")
    bootstrap()
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("changed-by-the-operator")
    admin.save()

    output = bootstrap()

    assert DatasetImport.objects.count() == 1
    assert "createsuperuser" in output
    assert get_user_model().objects.get(username="admin").check_password("changed-by-the-operator")
