"""Clients of the experiments API: staff, an ingestion application, anonymous."""

from __future__ import annotations

import pytest
from api_clients import ingestion_client
from rest_framework.test import APIClient


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_api(django_user_model) -> APIClient:
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("boss", "b@x.org", "pw"))
    return client


@pytest.fixture
def ingest_api(db) -> APIClient:
    client = APIClient()
    client.force_authenticate(ingestion_client("app"))
    return client
