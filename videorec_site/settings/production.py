"""Production: no defaults for secrets, HTTPS behind a TLS-terminating proxy.

``DJANGO_SECRET_KEY`` and ``DJANGO_ALLOWED_HOSTS`` must come from the environment; a
missing one stops the process at start-up instead of running insecurely.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
# Loopback names are always accepted: the container's health check and a scraper on the
# same host call http://127.0.0.1:8000/ whatever the public host name is.
ALLOWED_HOSTS = [*env.list("DJANGO_ALLOWED_HOSTS"), "127.0.0.1", "localhost", "[::1]"]

# WhiteNoise serves the admin's and Swagger UI's static files straight from gunicorn.
_security = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware")  # noqa: F405
MIDDLEWARE = [
    *MIDDLEWARE[: _security + 1],  # noqa: F405
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_security + 1 :],  # noqa: F405
]
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# gunicorn kills a request after its timeout: without a broker, the admin and the API refuse
# to retrain (503 with the reason) rather than train inside a web worker.
VIDEOREC_RETRAIN_IN_PROCESS = False

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Probes and the metrics scraper come from inside the network over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True

# One JSON object per line: every request (RequestLogMiddleware) and every other record.
LOGGING["handlers"]["console"]["formatter"] = env("LOG_FORMAT", default="json")  # noqa: F405
