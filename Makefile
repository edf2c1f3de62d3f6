# Two commands do all the setup on a fresh machine: `make run` (the dashboard) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint benchmark sweep

$(STAMP): requirements.txt requirements-dev.txt requirements-ray.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m streamlit run dashboard/app.py

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest

sweep: $(STAMP)
	$(PY) -m core sweep

benchmark: $(STAMP)
	$(PY) -m core benchmark
