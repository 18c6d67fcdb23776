# VideoRec: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WEB_CONCURRENCY ?= 2
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run serve worker beat test lint format migrate load clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(INSTALLED): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

install: $(INSTALLED)  ## create .venv and install requirements.txt

migrate: install  ## apply database migrations
	$(PY) manage.py migrate --noinput

load: migrate  ## load MovieLens-100k (idempotent)
	$(PY) manage.py loadml100k

run: migrate  ## set up (data, admin login) and serve on http://$(HOST):$(PORT)
	$(PY) manage.py bootstrap --base-url http://$(HOST):$(PORT)
	$(PY) manage.py runserver $(HOST):$(PORT)

serve: migrate  ## production-like: gunicorn with production settings
	DJANGO_SETTINGS_MODULE=videorec_site.settings.production $(PY) manage.py collectstatic --noinput -v0
	DJANGO_SETTINGS_MODULE=videorec_site.settings.production $(VENV)/bin/gunicorn videorec_site.wsgi \
		--bind $(HOST):$(PORT) --workers $(WEB_CONCURRENCY)

worker: install  ## a Celery worker (needs CELERY_BROKER_URL)
	$(VENV)/bin/celery -A videorec_site worker --loglevel INFO

beat: install  ## the Celery beat scheduler (needs CELERY_BROKER_URL)
	$(VENV)/bin/celery -A videorec_site beat --loglevel INFO

lint: install  ## ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install  ## lint, then the whole pytest suite
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

clean:  ## remove the venv, caches and the local SQLite database
	rm -rf $(VENV) .pytest_cache .ruff_cache .pytest_media .pytest_data staticfiles
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm
