"""Test runs: the local defaults, fast password hashing, no .env surprises."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("DJANGO_DEBUG", "false")

from .base import *  # noqa: F403
from .base import BASE_DIR, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / ".pytest_media"))
VIDEOREC_DATA_DIR = env.path("VIDEOREC_DATA_DIR", default=str(BASE_DIR / ".pytest_data"))
# Impressions written during the request: a test reads them as soon as it was answered.
VIDEOREC_IMPRESSION_FLUSH_SECONDS = env.float("VIDEOREC_IMPRESSION_FLUSH_SECONDS", default=0.0)
