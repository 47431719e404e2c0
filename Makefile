# The README's commands. `make run` and `make test` each create .venv and install what they need.
VENV ?= .venv
PY := $(VENV)/bin/python
SENSEX := $(VENV)/bin/sensex
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Material for MkDocs prints a banner about MkDocs 2.0 on every build; the variable is its off switch.
DOCS_BUILD := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

.PHONY: run test test-ray test-fast e2e bench lint docs clean-venv

$(PY):
	python3 -m venv $(VENV)

# Runtime plus torch 2.13.0 (CPU) for training.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(PIP) -e '.[train]'
	touch $@

# Everything above plus the test tools.
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(SENSEX) data update
	@if $(SENSEX) registry production >/dev/null 2>&1; then \
		echo "Production model found: not retraining (run 'sensex train' to retrain)."; \
	else \
		$(SENSEX) train --preset quick && { $(SENSEX) registry setup || \
			echo "No model passed the promotion gate: the dashboard will say so."; }; \
	fi
	$(SENSEX) app

# The layer contracts and the documentation are checked before the tests run. The tests that start
# Ray run in a pytest process of their own, after the others: a Ray instance lives as long as the
# process that started it, and no other test may share a process with one (conftest keeps Ray out
# of unmarked tests). `make test-ray` runs them alone.
test: $(VENV)/.installed-dev
	$(VENV)/bin/lint-imports
	$(DOCS_BUILD)
	$(PY) -m pytest -q -m "not ray"
	$(PY) -m pytest -q -m ray

test-ray: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m ray

test-fast: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m "not slow"

# The browser test alone (needs Debian's chromium: apt-get install chromium).
e2e: $(VENV)/.installed-dev
	$(PY) -m pytest -q -m e2e

bench: $(VENV)/.installed-dev
	$(PY) bench/data.py
	$(PY) bench/serving.py
	$(PY) bench/model_quality.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check sensex tests bench
	$(VENV)/bin/lint-imports

# The documentation site from docs/ (mkdocs.yml) into site/, offline. --strict: a broken link or
# anchor, or a section docs/gen_results.py cannot generate, fails the build.
docs: $(VENV)/.installed-dev
	$(DOCS_BUILD)

clean-venv:
	rm -rf $(VENV)
