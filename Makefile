# The two commands: `make demo` runs a dev network with co-hosted nodes, `make test` runs the
# whole test suite (PostgreSQL, Redis, anvil with the real Raiden contracts). Both set up first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-stamp
ANVIL_STAMP := node_modules/.installed-stamp

# Used by `make test` unless already set in the environment.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/raidennode
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

DEMO_NODES ?= 2
DEMO_PORT ?= 5001
DEMO_INFO ?= var/devnet.json

.PHONY: setup demo test lint format clean

setup: $(STAMP) $(ANVIL_STAMP)
	@$(PY) manage.py migrate --noinput -v 0
	@echo "setup done"

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps raiden-contracts==0.40.2 raiden-api-client==1.1.1
	@touch $(STAMP)

# anvil 1.7.1 is pinned in package.json (and its platform binary by anvil's own package.json).
$(ANVIL_STAMP): package.json
	npm install --no-audit --no-fund --no-package-lock
	@touch $(ANVIL_STAMP)

# The demo is Raiden's local, unauthenticated API unless RAIDEN_AUTH=on is given (then the info
# file holds each node's API token).
demo: setup
	RAIDEN_AUTH=$${RAIDEN_AUTH:-off} $(PY) manage.py devnet --nodes $(DEMO_NODES) --port $(DEMO_PORT) --info-file $(DEMO_INFO)

test: setup
	@bash scripts/ensure-services.sh
	@bash scripts/ensure-browser.sh
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules var/*.sqlite3
