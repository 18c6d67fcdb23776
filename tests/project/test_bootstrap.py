"""``manage.py bootstrap`` (what ``make run`` runs before serving)."""

from __future__ import annotations

import os
import stat
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask
from movielens_files import write_grouplens
from servers import REPO

from ingestion.models import DatasetImport, Rating
from recommender.management.commands.bootstrap import public_bind_refusal
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


def test_the_password_file_is_private_from_the_moment_it_exists(
    settings, tmp_path: Path, synthetic_ratings, monkeypatch
) -> None:
    """Never readable by others, not even between its creation and a later chmod."""
    settings.VIDEOREC_DATA_DIR = tmp_path
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)  # no fixing up afterwards
    old_umask = os.umask(0o022)
    try:
        bootstrap()
    finally:
        os.umask(old_umask)

    password_file = tmp_path / "admin-password.txt"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    # The generated password passes the validators a human's password must pass.
    validate_password(password_file.read_text().strip())


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("http://127.0.0.1:8000", False),
        ("http://127.0.0.2:8000", False),
        ("http://localhost:8000", False),
        ("http://[::1]:8000", False),
        ("http://0.0.0.0:8000", True),
        ("http://192.168.1.20:8000", True),
        ("http://videorec.example.com:8000", True),
    ],
)
def test_only_loopback_addresses_are_private(url: str, public: bool) -> None:
    assert (public_bind_refusal(url) is not None) is public


def test_a_public_development_server_is_refused_unless_confirmed(settings, tmp_path) -> None:
    settings.VIDEOREC_DATA_DIR = tmp_path
    write_grouplens(tmp_path / "ml-100k")

    with pytest.raises(CommandError, match=r"0\.0\.0\.0 is not a loopback address.*DEBUG"):
        call_command("bootstrap", "--base-url", "http://0.0.0.0:8000", stdout=StringIO())
    assert not DatasetImport.objects.exists()  # refused before doing anything

    errors = StringIO()
    call_command(
        "bootstrap", "--base-url", "http://0.0.0.0:8000", "--allow-public",
        stdout=StringIO(), stderr=errors,
    )  # fmt: skip
    assert "WARNING, serving publicly" in errors.getvalue()


@pytest.mark.parametrize(("confirm", "flag"), [("", False), ("no", False), ("yes", True)])
def test_make_run_passes_the_confirmation_on(confirm: str, flag: bool) -> None:
    result = subprocess.run(
        ["make", "-n", "run", "HOST=0.0.0.0", f"VIDEOREC_ALLOW_PUBLIC_RUNSERVER={confirm}"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    bootstrap_line = result.stdout.split("manage.py bootstrap", 1)[1].split("runserver")[0]
    assert "--base-url http://0.0.0.0:8000" in bootstrap_line
    assert ("--allow-public" in bootstrap_line) is flag
