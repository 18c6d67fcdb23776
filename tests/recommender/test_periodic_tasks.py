"""``setup_periodic_tasks``: the nightly retrain and the reaper for django-celery-beat."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from recommender.services.schedules import NIGHTLY_RETRAIN, PRUNE_EXPERIMENT_DATA, REAP_STALE_RUNS
from videorec_site import celery_app

pytestmark = pytest.mark.django_db


def setup(*args: str) -> str:
    out = StringIO()
    call_command("setup_periodic_tasks", *args, stdout=out)
    return out.getvalue()


def test_creates_a_nightly_retrain_and_the_reaper() -> None:
    output = setup()

    retrain = PeriodicTask.objects.get(name=NIGHTLY_RETRAIN)
    assert retrain.task == "recommender.scheduled_retrain" and retrain.enabled
    crontab = retrain.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("0", "3", "*")
    assert str(crontab.timezone) == "UTC"
    reaper = PeriodicTask.objects.get(name=REAP_STALE_RUNS)
    assert reaper.task == "recommender.reap_stale_runs"
    assert (reaper.interval.every, reaper.interval.period) == (5, "minutes")
    prune = PeriodicTask.objects.get(name=PRUNE_EXPERIMENT_DATA)
    assert prune.task == "experiments.prune_old_data"
    assert (prune.crontab.minute, prune.crontab.hour) == ("30", "4")
    assert output.splitlines() == [
        f"{NIGHTLY_RETRAIN}: 0 3 * * * (m/h/dM/MY/d) UTC (created)",
        f"{REAP_STALE_RUNS}: every 5 minutes (created)",
        f"{PRUNE_EXPERIMENT_DATA}: 30 4 * * * (m/h/dM/MY/d) UTC (created)",
    ]
    # The names beat sends must be tasks the worker knows.
    celery_app.loader.import_default_modules()
    assert {retrain.task, reaper.task, prune.task} <= set(celery_app.tasks)


def test_running_it_again_keeps_the_operators_changes() -> None:
    setup()
    PeriodicTask.objects.filter(name=NIGHTLY_RETRAIN).update(enabled=False)

    output = setup("--retrain-cron", "30 1 * * *")

    assert PeriodicTask.objects.filter(name=NIGHTLY_RETRAIN).count() == 1
    retrain = PeriodicTask.objects.get(name=NIGHTLY_RETRAIN)
    assert not retrain.enabled and retrain.crontab.hour == "3"
    assert output.count("left as it is") == 3


def test_the_schedule_comes_from_the_setting(settings) -> None:
    settings.VIDEOREC_RETRAIN_CRON = "15 4 * * 1"
    setup()
    crontab = PeriodicTask.objects.get(name=NIGHTLY_RETRAIN).crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("15", "4", "1")


@pytest.mark.parametrize("cron", ["0 3 * *", "0 25 * * *"])
def test_a_malformed_schedule_is_refused(cron: str) -> None:
    with pytest.raises(CommandError, match="retrain schedule"):
        setup("--retrain-cron", cron)
    assert not PeriodicTask.objects.filter(name=NIGHTLY_RETRAIN).exists()
