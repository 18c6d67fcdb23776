"""Security: deployment checks, authentication of every write, staff-only pages, CSRF,
throttling, secrets from the environment, and error responses that reveal nothing."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys

import pytest
from api_clients import ingestion_client
from django.conf import settings
from django.test import Client
from django.urls import get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from servers import REPO

from ingestion.models import Rating
from recommender.permissions import ModelRunPermission

UNSAFE = ("post", "put", "patch", "delete")
#: Plain Django views outside the OpenAPI schema.
NON_API_PATHS = ("/metrics",)


def production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "THROTTLE_", "VIDEOREC_METRICS"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="videorec_site.settings.production",
        DJANGO_READ_DOT_ENV_FILE="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="videorec.example.com",
        **extra,
    )
    return env


def test_deployment_checks_report_no_issues() -> None:
    result = subprocess.run(
        [
            sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
            "--settings", "videorec_site.settings.production",
        ],
        cwd=REPO, env=production_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_production_throttles_by_default_and_takes_its_rates_from_the_environment() -> None:
    probe = (
        "import django, json; django.setup(); from django.conf import settings; "
        "rf = settings.REST_FRAMEWORK; print(json.dumps([rf['DEFAULT_THROTTLE_CLASSES'], "
        "rf['DEFAULT_THROTTLE_RATES'], settings.DEBUG]))"
    )

    def read(**extra: str) -> list:
        result = subprocess.run(
            [sys.executable, "-c", probe], cwd=REPO, env=production_env(**extra),
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return json.loads(result.stdout)

    classes, rates, debug = read()
    assert classes == [
        "common.api.throttling.AnonFixedWindowThrottle",
        "common.api.throttling.UserFixedWindowThrottle",
    ]
    assert rates == {"anon": "3000/minute", "user": "30000/minute"}
    assert debug is False
    assert read(THROTTLE_ANON_RATE="10/second", THROTTLE_USER_RATE="99/minute")[1] == {
        "anon": "10/second",
        "user": "99/minute",
    }


# --- Authentication and authorisation ------------------------------------------------------


def api_paths(client: Client) -> dict[str, set[str]]:
    """Every path of the live OpenAPI schema (ids filled in) with its documented methods."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    return {
        re.sub(r"\{[^}]+\}", "1", path): set(methods) for path, methods in schema["paths"].items()
    }


@pytest.mark.django_db
def test_every_unsafe_method_needs_authentication(tiny_dir) -> None:
    from django.core.management import call_command

    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    anonymous = APIClient()
    paths = api_paths(anonymous)
    assert "/api/ratings/" in paths and "post" in paths["/api/ratings/"]
    before = Rating.objects.count()
    checked = 0
    for path in [*paths, *NON_API_PATHS]:
        for method in UNSAFE:
            body = {"user_id": 1, "item_id": 1, "rating": 5}
            response = getattr(anonymous, method)(path, body, format="json")
            documented = method in paths.get(path, ())
            expected = {401} if documented else {401, 403, 405}
            assert response.status_code in expected, (method, path, response.status_code)
            assert response["Content-Type"].startswith("application/json"), (method, path)
            checked += documented
    assert checked >= 1
    assert Rating.objects.count() == before


def view_class(path: str) -> type | None:
    match = get_resolver().resolve(path)
    return getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)


@pytest.mark.django_db
def test_staff_only_pages_and_actions_refuse_other_users(django_user_model) -> None:
    member = django_user_model.objects.create_user("member", password="pw")
    client = Client()
    client.force_login(member)
    for page in ("/admin/", "/admin/recommender/modelrun/", "/admin/ingestion/rating/"):
        response = client.get(page)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], page
    # Every API view restricted to staff refuses an authenticated non-staff token.
    token = Token.objects.create(user=member).key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    paths = api_paths(api)
    staff_only = {
        path
        for path in paths
        if ModelRunPermission in getattr(view_class(path), "permission_classes", ())
    }
    assert staff_only == {"/api/model-runs/", "/api/model-runs/1/"}
    for path in sorted(staff_only):
        for method in paths[path]:
            response = getattr(api, method)(path, {}, format="json")
            assert response.status_code == 403, (method, path)


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token_and_token_writes_do_not(
    django_user_model, tiny_dir
) -> None:
    from django.core.management import call_command

    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    user = ingestion_client("writer")
    rating = {"user_id": 1, "item_id": 3, "rating": 4}

    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    refused = browser.post("/api/ratings/", rating, format="json")
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("CSRF Failed")
    assert not Rating.objects.filter(viewer_id=1, movie_id=3).exists()

    browser.get("/admin/login/")  # sets the csrftoken cookie, as any page with a form does
    token = browser.cookies["csrftoken"].value
    accepted = browser.post("/api/ratings/", rating, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201

    app = APIClient(enforce_csrf_checks=True)
    app.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert app.post("/api/ratings/", {**rating, "rating": 2}, format="json").status_code == 200
    assert Rating.objects.get(viewer_id=1, movie_id=3).score == 2


@pytest.mark.django_db
def test_a_plain_form_post_without_csrf_token_is_refused_in_json() -> None:
    response = Client(enforce_csrf_checks=True).post("/metrics", {"a": "b"})
    assert response.status_code == 403
    assert response.json()["detail"].startswith("CSRF Failed")


# --- Error responses with DEBUG off ---------------------------------------------------------


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = "error_urls"
    settings.DEBUG = False
    return settings


def assert_reveals_nothing(response) -> None:
    text = response.content.decode()
    assert response["Content-Type"] == "application/json"
    assert "Traceback" not in text
    assert "failing view's secret" not in text
    assert settings.SECRET_KEY not in text
    assert "DATABASES" not in text and "settings" not in text.lower()
    assert set(json.loads(text)) == {"detail"}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/failing/", "/failing-plain/"])
def test_a_crashing_view_answers_a_clean_500(failing_urls, path: str) -> None:
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 500
    assert_reveals_nothing(response)
    assert response.json()["detail"] == "internal server error; it has been logged"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/no/such/page", {}, 404),
        ("get", "/api/no-such-endpoint/", {}, 404),
        ("get", "/api/movies/999999/", {}, 404),
        ("delete", "/healthz", {}, 405),
        ("put", "/metrics", {}, 405),
        ("get", "/", {"HTTP_HOST": "attacker.example.com"}, 400),
    ],
)
def test_error_responses_are_json_without_details(
    failing_urls, method: str, path: str, headers: dict, status: int
) -> None:
    response = getattr(Client(raise_request_exception=False), method)(path, **headers)
    assert response.status_code == status
    assert_reveals_nothing(response)


# --- Who may write ratings, who may read viewers ------------------------------------------


@pytest.mark.django_db
def test_the_ingestion_client_group_may_write_ratings_and_create_viewers_only() -> None:
    from django.contrib.auth.models import Group

    from ingestion.permissions import INGESTION_CLIENT_GROUP

    group = Group.objects.get(name=INGESTION_CLIENT_GROUP)  # made by migration 0003
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == {
        ("ingestion", "add_rating"),
        ("ingestion", "change_rating"),
        ("ingestion", "add_viewer"),
    }


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.mark.django_db
def test_a_token_without_the_rating_permissions_writes_nothing(django_user_model, tiny_dir) -> None:
    from django.core.management import call_command

    from ingestion.models import Viewer

    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    member = django_user_model.objects.create_user("member", password="pw")
    before = list(Rating.objects.order_by("id").values_list())
    api = token_client(member)
    for body in (
        {"user_id": 1, "item_id": 1, "rating": 1},  # someone else's existing rating
        {"user_id": 2147483647, "item_id": 1, "rating": 5},  # a new viewer
    ):
        response = api.post("/api/ratings/", body, format="json")
        assert response.status_code == 403, response.content
        assert "ingestion client" in response.json()["detail"]
    assert list(Rating.objects.order_by("id").values_list()) == before
    assert not Viewer.objects.filter(id=2147483647).exists()


@pytest.mark.django_db
def test_rating_writers_need_add_viewer_to_create_viewers(django_user_model, tiny_dir) -> None:
    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    from ingestion.models import Viewer

    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    writer = django_user_model.objects.create_user("writer", password="pw")
    writer.user_permissions.set(
        Permission.objects.filter(codename__in=["add_rating", "change_rating"])
    )
    api = token_client(writer)
    assert api.post("/api/ratings/", {"user_id": 1, "item_id": 3, "rating": 4}).status_code == 201
    refused = api.post("/api/ratings/", {"user_id": 5000, "item_id": 3, "rating": 4})
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("viewer 5000 does not exist")
    assert not Viewer.objects.filter(id=5000).exists()
    # Members of the group and superusers create viewers.
    client = token_client(ingestion_client("client"))
    assert (
        client.post("/api/ratings/", {"user_id": 5000, "item_id": 3, "rating": 4}).status_code
        == 201
    )
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    assert (
        token_client(admin)
        .post("/api/ratings/", {"user_id": 5001, "item_id": 3, "rating": 4})
        .status_code
        == 201
    )


@pytest.mark.django_db
def test_viewer_data_is_for_staff_with_the_view_permission_only(
    django_user_model, tiny_dir
) -> None:
    from django.contrib.auth.models import Permission
    from django.core.management import call_command

    call_command("loadml100k", "--path", str(tiny_dir), stdout=None)
    anonymous = APIClient().get("/api/users/2/")
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"detail"}  # no demographics, no history
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    for user in (
        django_user_model.objects.create_user("member", password="pw"),
        ingestion_client("client"),
        staff,  # staff without the view viewer permission
    ):
        response = token_client(user).get("/api/users/2/")
        assert response.status_code == 403, user
        assert set(response.json()) == {"detail"}
    staff.user_permissions.add(Permission.objects.get(codename="view_viewer"))
    staff = django_user_model.objects.get(pk=staff.pk)  # permissions are cached per object
    assert token_client(staff).get("/api/users/2/").json()["zip_code"]
    admin = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    assert token_client(admin).get("/api/users/2/").status_code == 200


PUBLIC_READS = ("/", "/recommend/3", "/api/recommend/3", "/api/movies/", "/api/movies/1/",
                "/api/movies/1/similar/")  # fmt: skip


@pytest.mark.django_db
def test_public_reads_are_public_by_default_and_one_setting_closes_them(
    settings, django_user_model, synthetic_ratings
) -> None:
    for path in PUBLIC_READS:
        assert APIClient().get(path).status_code == 200, path

    settings.VIDEOREC_PUBLIC_RECOMMENDATIONS = False
    member = token_client(django_user_model.objects.create_user("member", password="pw"))
    for path in PUBLIC_READS:
        refused = APIClient().get(path)
        assert refused.status_code == 401, path
        assert "recommendations" not in refused.json()
        assert member.get(path).status_code == 200, path
    # Probes stay open: load balancers and health checks carry no credentials.
    assert APIClient().get("/healthz").status_code == 200
    assert APIClient().get("/readyz").status_code in (200, 503)
