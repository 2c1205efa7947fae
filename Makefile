# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := protected/sample-5MiB.bin

.PHONY: run test test-fast lint format install clean bench mutation screenshots docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes.
# python-ldap (the ldap extra) builds against libldap: where its headers are
# missing the LDAP tests skip and say so, and everything else still runs.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e '.[ldap]' >/dev/null 2>&1 || \
	  echo "note: python-ldap could not be built (needs libldap2-dev libsasl2-dev); LDAP tests will skip"
	touch $@

install: $(VENV)/.installed

$(SAMPLE):
	$(BIN)/python -c "import os; open('$(SAMPLE)', 'wb').write(os.urandom(5 * 1024 * 1024))"

run: install $(SAMPLE)
	$(BIN)/linksvc init --demo-admin
	$(BIN)/linksvc serve --host 127.0.0.1 --port 8000

# The whole suite: everything on both cores but the tests that assert how
# long something took (the `timing` marker), which then run alone, so they
# never share the cores with the rest of the suite.
test: install
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not timing"
	$(BIN)/python -m pytest -m timing

# Everything but real servers under load, on both cores.
test-fast: install
	$(BIN)/python -m pytest -n 2 --dist worksteal -m "not slow"

# mutmut 3 on linksvc/core/, each module against its own tests (README).
mutation: install
	$(BIN)/python -m pip install --quiet -e '.[mutation]'
	$(BIN)/python tools/mutation.py

# Screenshots of the main pages for the README: the browser tests take them
# (into the git-ignored test-artifacts/); this copies them to docs/.
screenshots: install
	$(BIN)/python -m pytest tests/browser -q
	mkdir -p docs/screenshots
	cp test-artifacts/screenshots/*.png docs/screenshots/

# One run, every figure the README quotes (needs nginx; wrk if installed).
bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The Sphinx site (Markdown through MyST), warnings as errors.
docs: install
	$(BIN)/sphinx-build -W -q -b html docs docs/_build/html

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) instance $(SAMPLE) .pytest_cache .ruff_cache
