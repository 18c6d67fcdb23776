"""Fixed-window throttles: DRF's clients and rates, one counter per client and window."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from common.api.throttling import AnonFixedWindowThrottle, UserFixedWindowThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [1_000_040.0]  # 20 s into a minute (1,000,020 is a multiple of 60)
    monkeypatch.setattr(AnonFixedWindowThrottle, "timer", lambda self: now[0])
    monkeypatch.setattr(UserFixedWindowThrottle, "timer", lambda self: now[0])
    cache.clear()
    yield now
    cache.clear()


def test_a_client_gets_its_rate_per_window_then_429_with_retry_after(clock, monkeypatch) -> None:
    monkeypatch.setattr(AnonFixedWindowThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    client = APIClient()

    statuses = [client.get("/").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = client.get("/")
    assert refused["Retry-After"] == "40"  # the rest of this minute
    assert "throttled" in refused.json()["detail"].lower()

    clock[0] += 40  # the next window
    assert client.get("/").status_code == 200
    # Another client has its own count.
    assert APIClient(REMOTE_ADDR="10.0.0.9").get("/").status_code == 200


def test_the_count_is_one_small_cache_entry_per_client_and_window(clock, monkeypatch) -> None:
    monkeypatch.setattr(AnonFixedWindowThrottle, "THROTTLE_RATES", {"anon": "1000/minute"})
    client = APIClient()
    for _ in range(50):
        client.get("/")

    throttle = AnonFixedWindowThrottle()
    key = f"throttle_anon_127.0.0.1:{int(clock[0] // 60)}"
    assert throttle.cache.get(key) == 50


def test_an_empty_rate_turns_the_throttle_off(clock, monkeypatch) -> None:
    monkeypatch.setattr(AnonFixedWindowThrottle, "THROTTLE_RATES", {"anon": None})
    client = APIClient()
    assert {client.get("/").status_code for _ in range(5)} == {200}


# --- Who the client is: the socket address, or the address a trusted proxy appended ----------


def test_without_a_proxy_a_client_cannot_mint_identities_with_its_own_header(
    clock, monkeypatch, settings
) -> None:
    monkeypatch.setattr(AnonFixedWindowThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0  # VIDEOREC_TRUSTED_PROXIES' default
    client = APIClient(REMOTE_ADDR="198.51.100.7")

    statuses = [
        client.get("/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}, 192.0.2.{n}").status_code
        for n in range(6)
    ]

    assert statuses == [200, 200, 200, 429, 429, 429]
    assert APIClient(REMOTE_ADDR="198.51.100.8").get("/").status_code == 200


def test_behind_one_proxy_the_client_is_the_address_the_proxy_appended(
    clock, monkeypatch, settings
) -> None:
    monkeypatch.setattr(AnonFixedWindowThrottle, "THROTTLE_RATES", {"anon": "3/minute"})
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = APIClient(REMOTE_ADDR="172.18.0.5")  # every request arrives from the proxy

    def through_proxy(client_address: str, forged: str | None = None) -> int:
        # What nginx's $proxy_add_x_forwarded_for sends: the client's header, then its address.
        header = f"{forged}, {client_address}" if forged else client_address
        return proxy.get("/", HTTP_X_FORWARDED_FOR=header).status_code

    statuses = [through_proxy("203.0.113.9", forged=f"10.0.0.{n}") for n in range(5)]

    assert statuses == [200, 200, 200, 429, 429]
    # Other clients behind the same proxy keep their own counts.
    assert through_proxy("203.0.113.10") == 200
    assert through_proxy("203.0.113.11", forged="203.0.113.9") == 200
