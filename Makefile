# The two commands of the README: `make run` and `make test`. Everything installs itself.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PACKAGES := shared cli services/ingest services/risk services/consent services/campaign services/metrics services/console
STAMP := $(VENV)/.installed

.PHONY: install run up down status test lint typecheck browser unit integration e2e schemas bench clean

install: $(STAMP)

$(STAMP): constraints.txt requirements-dev.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-dev.txt \
		$(foreach p,$(PACKAGES),-e $(p))
	touch $(STAMP)

run: install  ## start broker, database and the five services and the console in the foreground, simulate a business (ARGS=--fresh: anew)
	$(VENV)/bin/winback run $(ARGS)

up: install  ## start everything in the background and return when all services are ready
	$(VENV)/bin/winback up

down:  ## stop what `make up` started (database state is kept)
	@test -x $(VENV)/bin/winback && $(VENV)/bin/winback down || true

status: install
	$(VENV)/bin/winback status

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy shared/src cli/src $(foreach p,$(filter services/%,$(PACKAGES)),$(p)/src)

schemas: install  ## regenerate JSON Schemas and the AsyncAPI document from the event models
	$(PY) -m winback_shared.events.export shared/schemas README.md

test: lint typecheck browser  ## lint, type-check and run every test against real servers
	$(PY) -m pytest -q -p no:cacheprovider --durations=10

# Chromium for the browser tests (metrics dashboard, console): Debian's package, installed only as root
# with apt and only when missing; Playwright drives it (never `playwright install`). On a developer's
# machine without it those tests skip and say why; in CI (CI=true) a missing Chromium fails the build.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 \
	  && apt-get install -y -q chromium >/dev/null 2>&1)); } || true
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$${CI:-}" = true ]; then echo "chromium is not installed and could not be (needs root and apt-get): the browser tests cannot run in CI" >&2; exit 1; \
	  else echo "chromium not installed: the browser tests will skip"; fi; }

unit: install
	$(PY) -m pytest -q -m "not integration and not e2e and not scenario"

bench: install
	@echo "see bench/README.md"

clean: down
	rm -rf $(VENV) .winback
