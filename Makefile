# Parley: `make run` serves the app on SQLite, `make test` runs the whole suite.
# Both set everything up from a fresh clone (virtualenv, packages, database schema).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app app
VENDOR := public/static/vendor

.PHONY: run test lint format install install-dev db-upgrade services vendor screenshots clean

run: install vendor db-upgrade
	$(BIN)/python wsgi.py

test: install-dev vendor services
	$(BIN)/pytest $(PYTEST_ARGS)

# Refresh the README's pictures of the main screens (tests/test_browser_screenshots.py).
screenshots: install-dev vendor services
	PARLEY_SCREENSHOTS=docs/screenshots $(BIN)/pytest -q tests/test_browser_screenshots.py

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

install: $(VENV)/.runtime

install-dev: $(VENV)/.dev

# Front-end packages, pinned in package.json/package-lock.json, copied where the pages load them.
vendor: $(VENDOR)/.stamp

$(VENDOR)/.stamp: package.json package-lock.json tools/vendor.mjs
	npm ci --no-audit --no-fund --loglevel=error
	node tools/vendor.mjs
	touch $@

db-upgrade: install
	$(FLASK) db upgrade

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

# The suite starts its own throwaway redis-server when TEST_REDIS_URL is unset, runs
# deploy/nginx.conf in front of uWSGI (tests/test_deploy.py) and drives Debian's chromium
# with Playwright (tests/test_browser_*.py; Playwright never downloads a browser here).
services:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v nginx >/dev/null || test -x /usr/sbin/nginx || missing="$$missing nginx-light"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing (the tests run private ones)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache node_modules $(VENDOR)
