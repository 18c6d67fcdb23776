"""The container set-up, without a container engine: the Dockerfile and docker-compose.yml
are read and checked, and the entry point and the very commands the compose file runs are
executed here, against this machine's database (and Redis in the services pass).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from django.core.management import get_commands
from servers import (
    REPO,
    database_url,
    fetch,
    free_port,
    production_env,
    running,
    uses_postgresql,
    wait_for_http,
)
from tcp_proxy import TcpProxy

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "load", "web", "worker", "beat")
ENTRYPOINT = str(REPO / "docker" / "entrypoint.sh")
BROKER = os.environ.get("CELERY_BROKER_URL", "")
#: Values a deployment would put in .env, for ${…} in the compose file.
DOT_ENV = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "POSTGRES_PASSWORD": "pw"}


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?message}; a missing required one fails."""

    def replace(match: re.Match) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if variables.get(name):
            return variables[name]
        if operator == ":?":
            raise KeyError(f"{name}: {argument}")
        return argument if operator == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", replace, value)


def service_env(name: str, variables: dict[str, str] = DOT_ENV) -> dict[str, str]:
    return {k: interpolate(str(v), variables) for k, v in SERVICES[name]["environment"].items()}


def run_env(name: str, **overrides: str) -> dict[str, str]:
    """The service's compose environment with this machine's database, broker and folders."""
    env = production_env(**service_env(name))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # tests that want it pass their own folder
    env.update(
        DATABASE_URL=overrides.pop("DATABASE_URL"),
        CELERY_BROKER_URL=BROKER,
        CACHE_URL=os.environ.get("CACHE_URL", "locmemcache://"),
        MEDIA_ROOT=production_env()["MEDIA_ROOT"],
        VIDEOREC_DATA_DIR=production_env()["VIDEOREC_DATA_DIR"],
        **overrides,
    )
    return env


def command(name: str) -> list[str]:
    return [str(part) for part in SERVICES[name]["command"]]


@pytest.fixture
def server_database(transactional_db, tmp_path: Path) -> str:
    """PostgreSQL: the test database (already migrated). SQLite: a new file to migrate."""
    if uses_postgresql():
        return database_url()
    return f"sqlite:///{tmp_path / 'compose.sqlite3'}"


# --- The files ---------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_non_root_and_checks_health() -> None:
    text = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, re.M)
    assert [name for _, name in stages] == ["build", "runtime"]
    assert all(image.endswith("-slim") for image, _ in stages)
    assert "libgomp1" in text
    assert re.search(r"^USER videorec$", text, re.M)
    assert re.search(r"^HEALTHCHECK .*\n.*/healthz", text, re.M)
    assert 'ENTRYPOINT ["/app/docker/entrypoint.sh"]' in text
    assert re.search(r'^CMD \["gunicorn", "videorec_site.wsgi"', text, re.M)
    # The image's default command is the compose file's web command.
    default_command = re.search(r"^CMD (\[.*?\])$", text, re.M | re.S)[1]
    assert json.loads(default_command.replace("\\\n", "")) == command("web")
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git", "db.sqlite3*", "media", "data"} <= set(ignored)


def test_compose_has_every_role_with_health_checks_and_ordering() -> None:
    assert set(SERVICES) == {"db", "redis", "broker", *APP_SERVICES}
    for name in ("db", "redis", "broker", "web", "worker"):
        assert SERVICES[name]["healthcheck"]["test"], name
    assert SERVICES["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in ("load", "web", "worker", "beat"):
        assert SERVICES[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "broker": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }, name
    for name in ("migrate", "load"):
        assert SERVICES[name]["restart"] == "no"
    assert "pgdata:/var/lib/postgresql/data" in SERVICES["db"]["volumes"]
    for name in APP_SERVICES:
        assert "media:/app/media" in SERVICES[name]["volumes"]
        assert SERVICES[name]["build"] == "."
        env = service_env(name)
        assert env["DJANGO_SETTINGS_MODULE"] == "videorec_site.settings.production"
        assert env["VIDEOREC_MIGRATE_ON_START"] == ("true" if name == "migrate" else "false")
        assert env["DATABASE_URL"] == "postgres://videorec:pw@db:5432/videorec"
    assert set(COMPOSE["volumes"]) == {"pgdata", "media", "data"}


def test_compose_refuses_to_start_without_its_secrets() -> None:
    with pytest.raises(KeyError, match="DJANGO_SECRET_KEY"):
        service_env("web", {"POSTGRES_PASSWORD": "pw"})
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        service_env("web", {"DJANGO_SECRET_KEY": DOT_ENV["DJANGO_SECRET_KEY"]})


def test_every_command_names_something_that_exists() -> None:
    commands = get_commands()
    for name in APP_SERVICES:
        argv = command(name)
        if argv[:2] == ["python", "manage.py"]:
            assert argv[2] in commands, name
        elif argv[0] == "celery":
            assert argv[1:3] == ["-A", "videorec_site"]
            assert argv[3] in {"worker", "beat"}
            assert importlib.import_module("videorec_site").celery_app.main == "videorec_site"
        else:
            assert argv[0] == "gunicorn", name
            module = importlib.import_module(argv[1])
            assert callable(module.application)
    worker_check = SERVICES["worker"]["healthcheck"]["test"][1]
    assert worker_check.startswith("celery -A videorec_site inspect ping")


def test_every_variable_has_a_reader() -> None:
    """A misspelt variable in the compose file would be silently ignored: each must be read."""
    readers = {
        "DJANGO_SETTINGS_MODULE": "videorec_site/wsgi.py",
        "VIDEOREC_MIGRATE_ON_START": "docker/entrypoint.sh",
        "PROMETHEUS_MULTIPROC_DIR": "common/monitoring.py",
        "WEB_CONCURRENCY": None,  # gunicorn's own variable for its worker count
    }
    settings_text = "".join(
        path.read_text() for path in (REPO / "videorec_site" / "settings").glob("*.py")
    )
    for name in APP_SERVICES:
        for variable in service_env(name):
            if variable in readers:
                reader = readers[variable]
                assert reader is None or variable in (REPO / reader).read_text()
            else:
                assert re.search(rf'env(\.\w+)?\(\s*"{variable}"', settings_text), variable


# --- The entry point and the commands, run here ------------------------------------------


def test_entrypoint_waits_for_a_late_database_then_migrates_and_runs_the_command(
    tmp_path: Path, server_database: str
) -> None:
    if not uses_postgresql():
        pytest.skip("an SQLite file is always there: nothing to wait for")
    db = server_database.rsplit("@", 1)[1].split("/")[0]
    host, port = db.split(":")
    proxy = TcpProxy(host, int(port), listening=False)
    late_url = server_database.replace(f"@{db}/", f"@127.0.0.1:{proxy.port}/")
    log = tmp_path / "entrypoint.log"
    marker = tmp_path / "ran"
    env = run_env("migrate", DATABASE_URL=late_url, VIDEOREC_DB_WAIT_SECONDS="30")
    try:
        with running([ENTRYPOINT, "touch", str(marker)], env, log) as process:
            time.sleep(2)
            assert process.poll() is None and not marker.exists()  # still waiting
            proxy.listen()
            assert process.wait(timeout=120) == 0, log.read_text()
    finally:
        proxy.close()
    output = log.read_text()
    assert "is up" in output
    assert "Running migrations" in output or "No migrations to apply" in output
    assert marker.exists()


def test_entrypoint_gives_up_when_the_database_never_answers(tmp_path: Path) -> None:
    env = run_env(
        "web",
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        VIDEOREC_DB_WAIT_SECONDS="2",
    )
    marker = tmp_path / "ran"
    result = subprocess.run(
        [ENTRYPOINT, "touch", str(marker)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "did not answer within 2 s" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_migrate_job_migrates_and_passes_the_deployment_checks(
    tmp_path: Path, server_database: str
) -> None:
    env = run_env("migrate", DATABASE_URL=server_database)
    result = subprocess.run(
        [ENTRYPOINT, *command("migrate")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_web_command_serves_through_the_entrypoint(tmp_path: Path, server_database: str) -> None:
    port = free_port()
    argv = command("web")
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = run_env(
        "web",
        DATABASE_URL=server_database,
        VIDEOREC_MIGRATE_ON_START="true",  # a lone container migrates for itself
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        WEB_CONCURRENCY="2",
        DJANGO_SECURE_SSL_REDIRECT="false",  # no TLS proxy in front of this one
        # The image collects static files at build time; this checkout has none.
        PYTHONWARNINGS="ignore:No directory at",
    )
    base, log = f"http://127.0.0.1:{port}", tmp_path / "web.log"
    with running([ENTRYPOINT, *argv], env, log) as process:
        wait_for_http(f"{base}/healthz", process, log, timeout=180)
        status, _, body = fetch(f"{base}/recommend/1?topk=3")
        assert status == 200 and json.loads(body)["recommendations"] == []
        status, _, body = fetch(f"{base}/readyz")
        assert status == 503 and json.loads(body)["status"] == "unavailable"
        status, _, body = fetch(f"{base}/metrics")
        assert status == 200
        metrics = body.decode()
        # Added up over both workers (multi-process mode) and read from the database.
        assert 'videorec_recommendation_seconds_count{cold_start="true",model="popularity"}' in (
            metrics
        )
        assert "videorec_active_model_run_id 0.0" in metrics
        assert "django_http_requests_total_by_method_total" in metrics
    output = log.read_text().splitlines()
    # Before gunicorn: the entry point's commands. From gunicorn's first record on,
    # every line is one JSON object: gunicorn's own records and one per request.
    served = output[next(i for i, line in enumerate(output) if line.startswith("{")) :]
    lines = [json.loads(line) for line in served if line.strip()]
    assert any(line["logger"] == "gunicorn.error" for line in lines)
    requests = [line for line in lines if line.get("logger") == "videorec.request"]
    assert {"path": "/recommend/1", "status": 200, "method": "GET"}.items() <= next(
        line for line in requests if line["path"] == "/recommend/1"
    ).items()
    assert all({"time", "level", "duration_ms", "remote_addr"} <= set(r) for r in requests)


def test_load_job_loads_a_mounted_folder(tmp_path: Path, server_database: str, tiny_dir) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tiny_dir.rename(data_dir / "ml-100k")
    env = run_env("load", DATABASE_URL=server_database, VIDEOREC_MIGRATE_ON_START="true")
    env["VIDEOREC_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [ENTRYPOINT, *command("load")], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"({data_dir / 'ml-100k'})" in result.stdout
    assert "6 ratings (6 new, 0 updated)" in result.stdout, result.stdout


@pytest.mark.services
@pytest.mark.skipif(not BROKER, reason="needs CELERY_BROKER_URL (the services pass of CI)")
def test_worker_and_beat_commands_start_and_answer(tmp_path: Path, server_database: str) -> None:
    worker_log, beat_log = tmp_path / "worker.log", tmp_path / "beat.log"
    beat_argv = command("beat")
    hostname = f"videorec-test-{os.getpid()}"
    worker_argv = [*command("worker"), "--hostname", f"celery@{hostname}"]
    env = run_env("worker", DATABASE_URL=server_database)
    with (
        running([ENTRYPOINT, *worker_argv], env, worker_log) as worker,
        running([ENTRYPOINT, *beat_argv], run_env("beat", DATABASE_URL=server_database), beat_log),
    ):
        check = SERVICES["worker"]["healthcheck"]["test"][1].replace("$$HOSTNAME", hostname)
        deadline = time.monotonic() + 90
        while True:
            ping = subprocess.run(
                ["sh", "-c", check], env=env, capture_output=True, text=True, timeout=60
            )
            if ping.returncode == 0 or time.monotonic() > deadline or worker.poll() is not None:
                break
            time.sleep(1)
        assert ping.returncode == 0, ping.stdout + ping.stderr + worker_log.read_text()[-3000:]
        assert "pong" in ping.stdout
    assert "beat: Starting" in beat_log.read_text(), beat_log.read_text()[-3000:]
    assert "DatabaseScheduler" in beat_log.read_text()


def test_web_trusts_exactly_its_proxy_and_is_published_on_loopback_only() -> None:
    """Behind the TLS proxy the client is the address it appended to X-Forwarded-For; a
    client reaching gunicorn past the proxy could write that address itself."""
    assert service_env("web")["VIDEOREC_TRUSTED_PROXIES"] == "1"
    for name in ("migrate", "load", "worker", "beat"):
        assert "VIDEOREC_TRUSTED_PROXIES" not in service_env(name), name  # they serve nothing
    (published,) = [interpolate(port, {}) for port in SERVICES["web"]["ports"]]
    assert published == "127.0.0.1:8000:8000"
    elsewhere = interpolate(SERVICES["web"]["ports"][0], {"WEB_BIND_ADDRESS": "192.0.2.1"})
    assert elsewhere == "192.0.2.1:8000:8000"


def redis_options(name: str) -> dict[str, str]:
    argv = [interpolate(str(part), {}) for part in SERVICES[name]["command"]]
    assert argv[0] == "redis-server", name
    return dict(zip(argv[1::2], argv[2::2], strict=True))


def test_cache_and_broker_are_separate_redis_instances_with_their_own_eviction() -> None:
    """Eviction is per Redis instance: the cache evicts when full, the broker never drops a
    queued task; and the cache is bounded (unknown viewers, filters and throttle counters
    all make keys)."""
    cache, broker = redis_options("redis"), redis_options("broker")
    assert cache["--maxmemory-policy"] == "allkeys-lru"
    assert cache["--maxmemory"] == "256mb"
    assert broker["--maxmemory-policy"] == "noeviction"
    for name in APP_SERVICES:
        env = service_env(name)
        assert env["CACHE_URL"].startswith("redis://redis:6379/"), name
        assert env["CELERY_BROKER_URL"].startswith("redis://broker:6379/"), name
