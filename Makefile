# Two entry points for a fresh machine: `make run` serves on the embedded defaults,
# `make test` runs the whole suite. Both build the virtualenv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run admin test lint format clean schema

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# The task worker (emails, key maintenance) and the scheduler that queues the key maintenance
# run beside the server and stop with it.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py db_worker & worker=$$!; \
	$(BIN)/python manage.py run_scheduler & scheduler=$$!; \
	trap 'kill $$worker $$scheduler 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# An operator for the admin at /admin/: asks for an email and a password.
admin: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py createsuperuser

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)
	$(BIN)/pytest $(PYTEST_ARGS) --ds=tests.extending.settings tests/extending

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

# The OpenAPI schema, committed as docs/openapi.yaml (a test fails when it is stale),
# written on the embedded defaults.
schema: install
	DEBUG=true $(BIN)/python manage.py spectacular --validate --file docs/openapi.yaml
