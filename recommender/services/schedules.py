"""The periodic tasks of a deployment, stored for django-celery-beat's database scheduler.

Created once; afterwards they belong to the operator, who edits, disables or deletes them
in the admin (Periodic tasks): setting them up again never overwrites those changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

NIGHTLY_RETRAIN = "Retrain the recommender (skipped when no rating changed)"
REAP_STALE_RUNS = "Mark failed the model runs whose worker died"
PRUNE_EXPERIMENT_DATA = "Delete impressions and events past their retention"
#: After the nightly retrain (UTC); the task is the experiments app's (by name only: the
#: recommender does not import it).
PRUNE_CRON = "30 4 * * *"
#: How often beat looks for runs whose worker died (workers also do when they start).
REAP_EVERY_MINUTES = 5


@dataclass(frozen=True)
class PeriodicTaskSetup:
    name: str
    schedule: str
    created: bool


def periodic_tasks_setup(*, retrain_cron: str | None = None) -> list[PeriodicTaskSetup]:
    """Create the nightly retrain, the stale-run reaper and the nightly pruning of old
    impressions and events unless they exist (by name).

    ``retrain_cron`` is "minute hour day-of-month month day-of-week" in UTC, by default
    ``VIDEOREC_RETRAIN_CRON`` (03:00 every night). A malformed one raises ``ValueError``.
    """
    cron = retrain_cron or settings.VIDEOREC_RETRAIN_CRON
    with transaction.atomic():
        retrain_at = _crontab(cron, "retrain schedule")
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=REAP_EVERY_MINUTES, period=IntervalSchedule.MINUTES
        )
        tasks = [
            PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, kind: schedule})
            for name, task, kind, schedule in (
                (NIGHTLY_RETRAIN, "recommender.scheduled_retrain", "crontab", retrain_at),
                (REAP_STALE_RUNS, "recommender.reap_stale_runs", "interval", interval),
                (
                    PRUNE_EXPERIMENT_DATA,
                    "experiments.prune_old_data",
                    "crontab",
                    _crontab(PRUNE_CRON, "pruning schedule"),
                ),
            )
        ]
    return [PeriodicTaskSetup(task.name, _schedule_text(task), created) for task, created in tasks]


def _crontab(text: str, what: str) -> CrontabSchedule:
    """The stored UTC crontab for "minute hour day month weekday" (``ValueError`` if bad)."""
    cron = text.split()
    if len(cron) != 5:
        raise ValueError(f"{what} {' '.join(cron)!r} is not 'minute hour day month weekday'")
    crontab = CrontabSchedule(
        minute=cron[0],
        hour=cron[1],
        day_of_month=cron[2],
        month_of_year=cron[3],
        day_of_week=cron[4],
        timezone=ZoneInfo("UTC"),
    )
    try:
        crontab.full_clean(exclude=["timezone"])
    except ValidationError as exc:
        raise ValueError(f"{what} {' '.join(cron)!r}: {exc.messages[0]}") from exc
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=crontab.minute,
        hour=crontab.hour,
        day_of_month=crontab.day_of_month,
        month_of_year=crontab.month_of_year,
        day_of_week=crontab.day_of_week,
        timezone=crontab.timezone,
    )
    return crontab


def _schedule_text(task: PeriodicTask) -> str:
    """The schedule as the admin shows it (Celery's own repr spans several lines)."""
    return str(task.crontab or task.interval or task.solar or task.clocked)
