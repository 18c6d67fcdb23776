"""Settings shared by every environment.

Every value that differs between machines is read from the environment (or a ``.env``
file in the project folder) through django-environ; see ``.env.example``.
"""

import datetime as dt
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from videorec_site import __version__

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# A developer's .env is a convenience; real deployments set the process environment.
if env.bool("DJANGO_READ_DOT_ENV_FILE", default=True):
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_results",
    "django_celery_beat",
    "django_prometheus",
    "axes",
    "ingestion",
    "recommender",
    "experiments",
]

MIDDLEWARE = [
    # First and last: request counts and latencies by view, method and status.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "common.monitoring.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "common.middleware.RequestBodyLimitMiddleware",
    "common.middleware.StoreUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Turns a login refused for too many failures into its 429 page (django-axes).
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "videorec_site.urls"
CSRF_FAILURE_VIEW = "common.api.errors.csrf_failure"
WSGI_APPLICATION = "videorec_site.wsgi.application"
ASGI_APPLICATION = "videorec_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Data stores ---------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a load or a training run writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # The covering index of a movie's ratings (their scores, for the admin's counts and
    # means at PostgreSQL scale) is a plain index on SQLite, which is what it should be.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
# The same backends wrapped by django-prometheus: query, error and connection counters.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends.", 1
)
# Longest request body read into memory; larger ones get 413 before any parsing. A rating
# is a hundred bytes; admin forms stay far below this.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", default=256 * 1024)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": env.cache("CACHE_URL", default="locmemcache://videorec"),
    # In front of the default cache, for answers whose keys can never go stale (they
    # carry the model run and the viewer's history version): no network round trip.
    # Values held unpickled (common.cache.ProcessMemoryCache): never mutate what it returns.
    "process": {
        "BACKEND": "common.cache.ProcessMemoryCache",
        "LOCATION": "videorec-process",
        "OPTIONS": {"MAX_ENTRIES": env.int("VIDEOREC_PROCESS_CACHE_ENTRIES", default=20_000)},
    },
}
# Subclasses of the same backends that count gets, hits and misses (django-prometheus).
CACHES["default"]["BACKEND"] = {
    "django.core.cache.backends.redis.RedisCache": "common.cache.RedisCache",
    "django.core.cache.backends.locmem.LocMemCache": (
        "django_prometheus.cache.backends.locmem.LocMemCache"
    ),
}.get(CACHES["default"]["BACKEND"], CACHES["default"]["BACKEND"])

# --- Logins ------------------------------------------------------------------------------
# django-axes first: it refuses a login attempt for a username from an address that failed
# VIDEOREC_LOGIN_FAILURE_LIMIT times, for VIDEOREC_LOGIN_COOLOFF_MINUTES, before any
# password is checked. Failures are counted in the database, so every process agrees.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("VIDEOREC_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env.int("VIDEOREC_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The address the throttles count, so a trusted proxy's own address does not lock every
# client out together, and a client cannot pick a fresh address per guess.
AXES_CLIENT_IP_CALLABLE = "common.api.client_address.client_address"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Celery --------------------------------------------------------------------------------
# No broker configured means "no services": tasks run eagerly in the calling process.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
# Without a broker, a retrain requested from the admin or the API trains inside that request:
# fine for `make run`; production turns it off (a web worker's timeout would kill it).
VIDEOREC_RETRAIN_IN_PROCESS = True
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="videorec")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TRACK_STARTED = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Task results (django-celery-results) are kept a month, so the admin shows past retrains.
CELERY_RESULT_EXPIRES = dt.timedelta(days=30)

# --- Django REST framework and the OpenAPI schema ------------------------------------------
# Reverse proxies in front of the web server, each appending the address it received the
# request from to X-Forwarded-For. 0: clients connect directly and the socket address is
# the client (the header is ignored); N: the N-th address from the right is the client.
# Anything a client writes into the header itself stays to the left of those.
_trusted_proxies = env("VIDEOREC_TRUSTED_PROXIES", default="0").strip()
if not (_trusted_proxies.isascii() and _trusted_proxies.isdigit()):
    raise ImproperlyConfigured(
        f"VIDEOREC_TRUSTED_PROXIES must be 0 or a positive integer, not {_trusted_proxies!r}"
    )
VIDEOREC_TRUSTED_PROXIES = int(_trusted_proxies)
REST_FRAMEWORK = {
    # drf-spectacular's, aware of the public reads (common/api/schema.py).
    "DEFAULT_SCHEMA_CLASS": "common.api.schema.AutoSchema",
    # Token first: an anonymous write then gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    # DRF's own, except that a document nested too deeply for the decoder is a 400.
    "DEFAULT_PARSER_CLASSES": [
        "common.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "common.api.errors.api_exception_handler",
    # Who the throttles count: see VIDEOREC_TRUSTED_PROXIES.
    "NUM_PROXIES": VIDEOREC_TRUSTED_PROXIES,
    "DEFAULT_THROTTLE_CLASSES": [
        "common.api.throttling.AnonFixedWindowThrottle",
        "common.api.throttling.UserFixedWindowThrottle",
    ],
    # An empty rate turns that throttle off (DRF then skips its cache round trips).
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("THROTTLE_ANON_RATE", default="3000/minute") or None,
        "user": env("THROTTLE_USER_RATE", default="30000/minute") or None,
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "VideoRec API",
    "DESCRIPTION": "Two-stage movie recommendations over MovieLens-style data.",
    "VERSION": __version__,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Links between operations (declared next to the views), after the enum postprocessing.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.api.schema.add_links",
    ],
    # Names of choice sets that share a field name with another one.
    "ENUM_NAME_OVERRIDES": {
        "ExperimentModeEnum": "experiments.models.Experiment.Mode",
        "ExperimentStatusEnum": "experiments.models.Experiment.Status",
    },
}

# --- VideoRec ------------------------------------------------------------------------------
# Where downloaded data sets (GroupLens zip, the recbole wheel) are kept between loads.
VIDEOREC_DATA_DIR = Path(env("VIDEOREC_DATA_DIR", default=str(BASE_DIR / "data")))
VIDEOREC_GROUPLENS_URL = env(
    "VIDEOREC_GROUPLENS_URL",
    default="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
)
VIDEOREC_DOWNLOAD_TIMEOUT = env.float("VIDEOREC_DOWNLOAD_TIMEOUT", default=5.0)

# Training: how a run is evaluated, what it publishes, when it may replace the active run.
VIDEOREC_EVALUATION = {
    "protocol": env("VIDEOREC_EVALUATION_PROTOCOL", default="time"),
    "test_share": env.float("VIDEOREC_EVALUATION_TEST_SHARE", default=0.2),
    "k": 10,
    "seed": 42,
    # Held-out viewers scored (a seeded sample; the models are still fitted on everyone).
    "users": env.int("VIDEOREC_EVALUATION_USERS", default=5000),
}


def _choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """An enumerated setting; an unknown value stops the process at start-up."""
    value = env(name, default=default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


# What the ranker learns from its folds: "time" (the next movies a viewer rates), "random"
# (any missing movie) or "mixed" (one fold of each). "mixed" is the default because it is
# the one that collapses on neither protocol (docs/benchmarks.md, product section).
VIDEOREC_RANKER_LABELS = _choice("VIDEOREC_RANKER_LABELS", "mixed", ("time", "random", "mixed"))
# "liked": graded ranker labels, a movie rated 4 or 5 counts more than a merely rated one.
VIDEOREC_RELEVANCE = _choice("VIDEOREC_RELEVANCE", "rated", ("rated", "liked"))
VIDEOREC_NEIGHBORS_PER_ITEM = env.int("VIDEOREC_NEIGHBORS_PER_ITEM", default=20)
VIDEOREC_POPULAR_ITEMS = env.int("VIDEOREC_POPULAR_ITEMS", default=100)
# A new run is not activated if its NDCG@10 is this much below the active run's.
VIDEOREC_ACTIVATION_MARGIN = env.float("VIDEOREC_ACTIVATION_MARGIN", default=0.01)
# Recall tables (ItemNeighbor / PopularItem rows) are kept for the active run and this
# many of the newest succeeded runs; older runs get them back from their artifact on rollback.
VIDEOREC_KEEP_RECALL_TABLES = env.int("VIDEOREC_KEEP_RECALL_TABLES", default=3)
VIDEOREC_TRAINING_TIME_LIMIT = env.int("VIDEOREC_TRAINING_TIME_LIMIT", default=30 * 60)
# Training tasks acknowledge late: a message whose worker dies unacknowledged goes back to
# the queue. Redis does that after the visibility timeout, which must exceed the longest
# stage (else a slow stage would be delivered to a second worker while still running).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": max(3600, 2 * VIDEOREC_TRAINING_TIME_LIMIT)
}
# Seconds between a training stage's heartbeats; a stage silent for four of them counts as
# dead (0: no heartbeat; the time limit is then the only bound).
VIDEOREC_TRAINING_HEARTBEAT = env.int("VIDEOREC_TRAINING_HEARTBEAT", default=15)
# The periodic retrain (cron: minute hour day-of-month month day-of-week, UTC), created by
# `manage.py setup_periodic_tasks`; edit it afterwards in the admin (Periodic tasks).
VIDEOREC_RETRAIN_CRON = env("VIDEOREC_RETRAIN_CRON", default="0 3 * * *")
# LightGBM threads while training. OpenMP threads spin while waiting, so on a machine that
# also serves requests, fewer threads than cores train faster overall.
VIDEOREC_TRAINING_THREADS = env.int("VIDEOREC_TRAINING_THREADS", default=2)
# Ranker training rows over all folds: each fold learns from a viewer sample sized to it.
VIDEOREC_RANKER_ROW_BUDGET = env.int("VIDEOREC_RANKER_ROW_BUDGET", default=2_000_000)
# Training cost at scale (issue 14). The ranker is refitted on all its rows (validation
# users included) with the early-stopped tree count; when its folds' viewers were sampled
# for the row budget the data is not scarce and, unless this is on, the refit (a second
# LightGBM fit) is skipped. The run records it (params.scale.ranker_refit).
VIDEOREC_RANKER_REFIT_WHEN_SAMPLED = env.bool("VIDEOREC_RANKER_REFIT_WHEN_SAMPLED", default=False)
# Above this many movies EASE (a dense items x items inverse) is solved on the this-many
# most-rated movies only; the run records which.
VIDEOREC_EASE_MAX_ITEMS = env.int("VIDEOREC_EASE_MAX_ITEMS", default=12_000)
# Serving keeps each answer this long, keyed by the viewer's history (0 turns it off).
VIDEOREC_RESULT_CACHE_SECONDS = env.int("VIDEOREC_RESULT_CACHE_SECONDS", default=600)
# Serving scores a viewer from this many newest ratings (older ones only count as seen):
# a request's cost is then bounded by it, not by the viewer's history length.
VIDEOREC_SERVING_HISTORY = env.int("VIDEOREC_SERVING_HISTORY", default=1000)
if VIDEOREC_SERVING_HISTORY < 1:
    raise ImproperlyConfigured("VIDEOREC_SERVING_HISTORY must be at least 1")
# Web and Celery workers map the large arrays of a local model artifact instead of reading
# them: processes serving the same run share one copy (false: each reads its own).
VIDEOREC_ARTIFACT_MMAP = env.bool("VIDEOREC_ARTIFACT_MMAP", default=True)
# Viewers per Celery task when `recommend --all` fans out (batch scoring).
VIDEOREC_BATCH_CHUNK_SIZE = env.int("VIDEOREC_BATCH_CHUNK_SIZE", default=500)
if VIDEOREC_BATCH_CHUNK_SIZE < 1:
    raise ImproperlyConfigured("VIDEOREC_BATCH_CHUNK_SIZE must be at least 1")
# Impressions (the lists /recommend served) wait in each process's memory and are written
# in bulk every VIDEOREC_IMPRESSION_FLUSH_SECONDS, or as soon as VIDEOREC_IMPRESSION_BATCH
# wait (0 seconds: written during the request).
VIDEOREC_IMPRESSION_FLUSH_SECONDS = env.float("VIDEOREC_IMPRESSION_FLUSH_SECONDS", default=1.0)
VIDEOREC_IMPRESSION_BATCH = env.int("VIDEOREC_IMPRESSION_BATCH", default=500)
# Impressions and click/watch/like events older than this many days are deleted every
# night (stopped experiments' and those outside any experiment; dislikes and a running or
# draft experiment's data are kept); 0 keeps everything (docs/operations.md §9).
VIDEOREC_IMPRESSION_RETENTION_DAYS = env.int("VIDEOREC_IMPRESSION_RETENTION_DAYS", default=90)
if VIDEOREC_IMPRESSION_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("VIDEOREC_IMPRESSION_RETENTION_DAYS must be 0 or more")

# Recommendations, the catalogue and similar movies are public; false requires an
# authenticated user (token or session) for every read of them.
VIDEOREC_PUBLIC_RECOMMENDATIONS = env.bool("VIDEOREC_PUBLIC_RECOMMENDATIONS", default=True)

# /metrics: who may read it (see common.monitoring.metrics_allowed).
VIDEOREC_METRICS_ALLOWED_NETWORKS = env.list(
    "VIDEOREC_METRICS_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"]
)
VIDEOREC_METRICS_TOKEN = env("VIDEOREC_METRICS_TOKEN", default="")

# LOG_FORMAT=json: one JSON object per line (production's default), for log collectors.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env("LOG_FORMAT", default="plain"),
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes announces its configuration at every start, commands included.
        "axes.apps": {"level": "WARNING"},
        # RequestLogMiddleware logs every request, errors included, in one line each;
        # Django's own records add only server errors (with their traceback).
        "django.server": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
    },
}
