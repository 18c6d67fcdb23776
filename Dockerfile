# syntax=docker/dockerfile:1
# VideoRec image: gunicorn serving videorec_site with production settings.
# Build:  docker build -t videorec .
# Run:    docker run -e DJANGO_SECRET_KEY=… -e DJANGO_ALLOWED_HOSTS=localhost,127.0.0.1 \
#                    -e DATABASE_URL=postgres://… -p 8000:8000 videorec

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
    VIDEOREC_DATA_DIR=/app/data \
    MEDIA_ROOT=/app/media \
    WEB_CONCURRENCY=2
WORKDIR /app
COPY --chown=videorec:videorec . .
# Static files are collected at build time; the values below exist only for this step.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput -v0 \
    && mkdir -p /app/data /app/media \
    && chown -R videorec:videorec /app/data /app/media /app/staticfiles
USER videorec
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "videorec_site.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
