# Two commands do all the setup on a fresh machine: `make run` (the dashboard) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-quick lint benchmark sweep

$(STAMP): requirements.txt requirements-dev.txt requirements-ray.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

# For local iteration: without the tests that train on real data or drive Chromium (CI runs everything).
test-quick: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow and not browser"

sweep: $(STAMP)
	$(PY) -m core sweep

benchmark: $(STAMP)
	$(PY) -m core benchmark
