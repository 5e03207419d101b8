# Two commands set everything up on a fresh machine:
#   make run   - virtualenv, dependencies, folders, migrate, then every process of
#                the Procfile under honcho: web, the three Celery workers (frames;
#                default+polling; maintenance), beat and the camera readers.
#                Ctrl-C (or SIGTERM) stops them all, and so does any one exiting.
#   make test  - virtualenv, dependencies, then the whole test suite
# With no DATABASE_URL / REDIS_URL, `run` uses embedded SQLite, a disk cache that
# every process shares and a filesystem broker, all in var/. `test` always uses
# real PostgreSQL and Redis (defaults below) and fails loudly if they are not
# reachable. `make run PORT=8001 CELERY_METRICS_PORT=9809` moves the two ports.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
CELERY_METRICS_PORT ?= 9808
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/campus
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1

.PHONY: run test venv system-deps lint bench

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# Debian packages the project uses: ffmpeg (RTSP test source), the PostgreSQL
# client (pg_dump/pg_restore for backups), Chromium (the browser test).
# Installed only when missing.
system-deps:
	@missing=""; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	command -v pg_dump >/dev/null || missing="$$missing postgresql-client"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Please install:$$missing" >&2; fi; \
	fi

run: venv
	export DEBUG=$${DEBUG:-1} PYTHONUNBUFFERED=1 PATH="$(CURDIR)/$(VENV)/bin:$$PATH" \
	  HOST=$(HOST) CELERY_METRICS_PORT=$(CELERY_METRICS_PORT); \
	$(PY) -m config.prepare && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py collectstatic --noinput --verbosity 0 && \
	exec $(VENV)/bin/honcho start --env /dev/null --port $(PORT)

test: venv system-deps
	export DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} DEBUG=$${DEBUG:-1}; \
	$(PY) -m config.preflight || exit 1; \
	$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

lint: venv
	$(PY) -m ruff check .
	DEBUG=1 $(PY) manage.py check
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
