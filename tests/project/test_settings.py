"""Configuration comes from the environment, and the settings we rely on take effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json
import django
django.setup()
from django.conf import settings
from videorec_site import celery_app
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST", ""),
    "cache": settings.CACHES["default"]["BACKEND"],
    "cache_location": str(settings.CACHES["default"].get("LOCATION", "")),
    "broker": celery_app.conf.broker_url, "eager": celery_app.conf.task_always_eager,
    "debug": settings.DEBUG, "hosts": settings.ALLOWED_HOSTS,
    "secret": settings.SECRET_KEY,
    "throttle": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "visibility_timeout": celery_app.conf.broker_transport_options.get("visibility_timeout"),
    "result_expires_days": celery_app.conf.result_expires.days,
    "heartbeat": settings.VIDEOREC_TRAINING_HEARTBEAT,
    "retrain_cron": settings.VIDEOREC_RETRAIN_CRON,
    "retrain_in_process": settings.VIDEOREC_RETRAIN_IN_PROCESS,
    "num_proxies": settings.REST_FRAMEWORK.get("NUM_PROXIES"),
    "ranker_labels": settings.VIDEOREC_RANKER_LABELS,
    "relevance": settings.VIDEOREC_RELEVANCE,
}))
"""
ENV_NAMES = (
    "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS",
)  # fmt: skip


def probe(settings_module: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    clean.update(DJANGO_SETTINGS_MODULE=settings_module, DJANGO_READ_DOT_ENV_FILE="false", **env)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_of(settings_module: str, **env: str) -> dict:
    result = probe(settings_module, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_defaults_need_no_services() -> None:
    seen = settings_of("videorec_site.settings.local")

    # django-prometheus' instrumented subclasses of Django's own backends.
    assert seen["engine"] == "django_prometheus.db.backends.sqlite3"
    assert seen["name"] == str(REPO / "db.sqlite3")
    assert seen["cache"] == "django_prometheus.cache.backends.locmem.LocMemCache"
    assert seen["eager"] is True
    assert seen["debug"] is True
    assert seen["retrain_in_process"] is True


def test_services_come_from_the_environment() -> None:
    seen = settings_of(
        "videorec_site.settings.local",
        DATABASE_URL="postgres://videorec@db.internal:5432/videorec",
        CELERY_BROKER_URL="redis://broker.internal:6379/0",
        CACHE_URL="redis://cache.internal:6379/1",
        DJANGO_DEBUG="false",
    )

    assert seen["engine"] == "django_prometheus.db.backends.postgresql"
    assert (seen["host"], seen["name"]) == ("db.internal", "videorec")
    assert seen["broker"] == "redis://broker.internal:6379/0"
    assert seen["eager"] is False
    assert seen["cache"] == "common.cache.RedisCache"
    assert seen["cache_location"] == "redis://cache.internal:6379/1"
    assert seen["debug"] is False


def test_training_tasks_outlive_the_redis_visibility_timeout() -> None:
    """A stage running past the visibility timeout would be delivered to a second worker."""
    seen = settings_of(
        "videorec_site.settings.local",
        VIDEOREC_TRAINING_TIME_LIMIT="5400",
        VIDEOREC_TRAINING_HEARTBEAT="5",
        VIDEOREC_RETRAIN_CRON="30 2 * * *",
    )

    assert seen["visibility_timeout"] == 2 * 5400
    assert seen["result_expires_days"] == 30
    assert (seen["heartbeat"], seen["retrain_cron"]) == (5, "30 2 * * *")


def test_throttle_rates_come_from_the_environment() -> None:
    seen = settings_of(
        "videorec_site.settings.local", THROTTLE_ANON_RATE="5/second", THROTTLE_USER_RATE="9/hour"
    )
    assert seen["throttle"] == {"anon": "5/second", "user": "9/hour"}
    assert (
        settings_of("videorec_site.settings.local", THROTTLE_ANON_RATE="")["throttle"]["anon"]
        is None
    )


def test_trusted_proxies_come_from_the_environment_and_default_to_none() -> None:
    # Unset, DRF would take the whole X-Forwarded-For header as the client's identity.
    assert settings_of("videorec_site.settings.local")["num_proxies"] == 0
    seen = settings_of("videorec_site.settings.local", VIDEOREC_TRUSTED_PROXIES="1")
    assert seen["num_proxies"] == 1
    for wrong in ("-1", "one"):
        result = probe("videorec_site.settings.local", VIDEOREC_TRUSTED_PROXIES=wrong)
        assert result.returncode != 0 and "VIDEOREC_TRUSTED_PROXIES" in result.stderr, wrong


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"DJANGO_ALLOWED_HOSTS": "videorec.example.com"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "x" * 50}, "DJANGO_ALLOWED_HOSTS"),
    ],
)
def test_production_has_no_default_secrets(env: dict, missing: str) -> None:
    result = probe("videorec_site.settings.production", **env)

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_reads_its_secrets() -> None:
    seen = settings_of(
        "videorec_site.settings.production",
        DJANGO_SECRET_KEY="s" * 50,
        DJANGO_ALLOWED_HOSTS="videorec.example.com,localhost",
        DJANGO_DEBUG="true",  # production ignores it
    )
    assert seen["secret"] == "s" * 50
    # Without a broker the web process refuses retrains instead of training in a request.
    assert (seen["eager"], seen["retrain_in_process"]) == (True, False)
    # Loopback names are added for the container health check and a local scraper.
    assert seen["hosts"] == ["videorec.example.com", "localhost", "127.0.0.1", "localhost", "[::1]"]
    assert seen["debug"] is False


def test_this_run_uses_the_configured_services(settings) -> None:
    """The suite itself runs against whatever DATABASE_URL / CELERY_BROKER_URL say."""
    from videorec_site import celery_app

    broker = os.environ.get("CELERY_BROKER_URL", "")
    assert celery_app.conf.task_always_eager is (not broker)
    expected_engine = (
        "django_prometheus.db.backends.postgresql"
        if os.environ.get("DATABASE_URL", "").startswith("postgres")
        else "django_prometheus.db.backends.sqlite3"
    )
    assert settings.DATABASES["default"]["ENGINE"] == expected_engine


def test_the_ranker_objective_comes_from_the_environment() -> None:
    values = settings_of(
        "videorec_site.settings.local", VIDEOREC_RANKER_LABELS="random", VIDEOREC_RELEVANCE="liked"
    )
    assert (values["ranker_labels"], values["relevance"]) == ("random", "liked")


@pytest.mark.parametrize("name", ["VIDEOREC_RANKER_LABELS", "VIDEOREC_RELEVANCE"])
def test_an_unknown_ranker_objective_stops_the_start(name: str) -> None:
    result = probe("videorec_site.settings.local", **{name: "sideways"})
    assert result.returncode != 0
    assert f"{name} must be one of" in result.stderr
