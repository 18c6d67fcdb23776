# syntax=docker/dockerfile:1
# VideoRec image: one image for every role (web, worker, beat, one-shot jobs); the
# entry point waits for the database and migrates, the command picks the role.
# Build:  docker build -t videorec .
# Run:    docker run -e DJANGO_SECRET_KEY=… -e DJANGO_ALLOWED_HOSTS=videorec.example.com \
#                    -e DATABASE_URL=postgres://… -p 8000:8000 videorec
# The whole stack (PostgreSQL, Redis, web, worker, beat): docker-compose.yml.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip && pip install -r /tmp/requirements.txt

FROM python:3.11-slim AS runtime
# libgomp1: LightGBM's OpenMP runtime.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 videorec
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=videorec_site.settings.production \
    DJANGO_READ_DOT_ENV_FILE=false \
    DATABASE_URL=sqlite:////app/data/db.sqlite3 \
    VIDEOREC_DATA_DIR=/app/data \
    MEDIA_ROOT=/app/media \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    WEB_CONCURRENCY=2
WORKDIR /app
# The code belongs to root: the service user can write only data/, media/ and /tmp.
COPY . .
# Static files are collected at build time; the values below exist only for this step.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput -v0 \
    && mkdir -p /app/data /app/media \
    && chown -R videorec:videorec /app/data /app/media
USER videorec
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
# gunicorn reads WEB_CONCURRENCY for its worker count. No access log: the application
# writes one JSON line per request itself; gunicorn's own records are JSON as well.
CMD ["gunicorn", "videorec_site.wsgi", "--bind", "0.0.0.0:8000", "--timeout", "60", \
     "--log-config-json", "docker/gunicorn-logging.json"]
