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

# A development checkout gets the runtime set and the test and lint tools; the production
# image installs requirements.txt alone.
$(INSTALLED): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(INSTALLED)  ## create .venv and install requirements-dev.txt (runtime + tests)

migrate: install  ## apply database migrations
	$(PY) manage.py migrate --noinput

load: migrate  ## load MovieLens-100k (idempotent)
	$(PY) manage.py loadml100k

run: migrate  ## set up (data, admin login) and serve on http://$(HOST):$(PORT)
	$(PY) manage.py bootstrap --base-url http://$(HOST):$(PORT) \
		$(if $(filter yes,$(VIDEOREC_ALLOW_PUBLIC_RUNSERVER)),--allow-public)
	$(PY) manage.py runserver $(HOST):$(PORT)

serve: migrate  ## production-like: gunicorn with production settings
	DJANGO_SETTINGS_MODULE=videorec_site.settings.production $(PY) manage.py collectstatic --noinput -v0
	DJANGO_SETTINGS_MODULE=videorec_site.settings.production $(VENV)/bin/gunicorn videorec_site.wsgi \
		--bind $(HOST):$(PORT) --workers $(WEB_CONCURRENCY)

# The queue the tasks are sent to (settings: CELERY_TASK_DEFAULT_QUEUE).
QUEUE ?= $(or $(CELERY_TASK_DEFAULT_QUEUE),videorec)
# One training at a time per worker: a stage already uses VIDEOREC_TRAINING_THREADS cores.
WORKER_CONCURRENCY ?= 1

worker: migrate  ## a Celery worker on the tasks' queue (needs CELERY_BROKER_URL)
	@test -n "$(CELERY_BROKER_URL)" || grep -qs '^CELERY_BROKER_URL=.' .env \
		|| { echo "make worker: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"; exit 1; }
	$(VENV)/bin/celery -A videorec_site worker --loglevel INFO --queues $(QUEUE) \
		--concurrency $(WORKER_CONCURRENCY)

beat: migrate  ## the Celery beat scheduler: nightly retrain, stale-run reaper
	@test -n "$(CELERY_BROKER_URL)" || grep -qs '^CELERY_BROKER_URL=.' .env \
		|| { echo "make beat: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0)"; exit 1; }
	$(PY) manage.py setup_periodic_tasks
	$(VENV)/bin/celery -A videorec_site beat --loglevel INFO

lint: install  ## ruff and the import contracts (.importlinter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: install  ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install  ## lint, then the whole pytest suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

clean:  ## remove the venv, caches and the local SQLite database
	rm -rf $(VENV) .pytest_cache .ruff_cache .pytest_media .pytest_data staticfiles
	rm -f db.sqlite3 db.sqlite3-wal db.sqlite3-shm
