"""Admin logins: repeated failures lock the username out from that address (django-axes),
and weak passwords are refused wherever Django sets one."""

from __future__ import annotations

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)


def log_in(password: str, address: str = "203.0.113.7", username: str = "root", **headers: str):
    client = Client(REMOTE_ADDR=address, headers=headers)
    response = client.post(LOGIN, {"username": username, "password": password})
    return response, "_auth_user_id" in client.session


def test_repeated_failures_lock_the_username_out_from_that_address(admin_user, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response, logged_in = log_in("wrong")
        assert response.status_code == 200 and not logged_in  # the form, again

    response, logged_in = log_in("wrong")
    assert response.status_code == 429 and not logged_in
    # Locked: even the right password is refused now, without being checked.
    response, logged_in = log_in(PASSWORD)
    assert response.status_code == 429 and not logged_in
    assert "too many login attempts" in response.content.decode()

    # The owner, from another address, is not locked out by someone else's guesses.
    assert log_in(PASSWORD, address="198.51.100.1")[1]


def test_behind_a_trusted_proxy_the_lockout_counts_the_address_it_appended(
    admin_user, settings
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        # The client's own header entry (first) is not believed; the proxy's (last) is.
        log_in("wrong", address=proxy, x_forwarded_for="192.0.2.99, 203.0.113.7")
    assert log_in(PASSWORD, address=proxy, x_forwarded_for="203.0.113.7")[0].status_code == 429
    # Another client behind the same proxy is not locked out with it.
    assert log_in(PASSWORD, address=proxy, x_forwarded_for="198.51.100.1")[1]


def test_the_lockout_ends_after_the_cool_off(admin_user, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in("wrong")
    assert not log_in(PASSWORD)[1]

    AccessAttempt.objects.update(
        attempt_time=dt.datetime.now(dt.UTC) - settings.AXES_COOLOFF_TIME - dt.timedelta(1)
    )
    assert log_in(PASSWORD)[1]


def test_a_success_resets_the_count(admin_user, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in("wrong")
    assert log_in(PASSWORD)[1]
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in("wrong")
    assert log_in(PASSWORD)[1]


@pytest.mark.parametrize("password", ["a", "short-pw1", "123456789012345", "password1234"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(ValidationError):
        validate_password(password)


def test_the_admin_refuses_to_set_a_weak_password(admin_user, client, django_user_model) -> None:
    client.force_login(admin_user)
    response = client.post(
        "/admin/auth/user/add/",
        {"username": "alice", "password1": "a", "password2": "a", "usable_password": "true"},
    )

    assert response.status_code == 200  # the form again, with the validators' messages
    assert "This password is too short" in response.content.decode()
    assert not django_user_model.objects.filter(username="alice").exists()
