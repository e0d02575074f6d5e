# The two commands of the README, and a few conveniences.
#   make demo    set up a venv, migrate the demo on SQLite, print the audit with probes
#   make test    the whole test suite, as CI runs it (bash .ci/run)
PYTHON ?= python3
VENV   ?= .venvs/demo
DEMO_DB ?= $(CURDIR)/demo_site/db.sqlite3

.PHONY: demo demo-html demo-serve test lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --disable-pip-version-check -e ".[demo,toolbar]"
	touch $@

demo: $(VENV)/.installed
	DEMO_SQLITE_PATH=$(DEMO_DB) $(VENV)/bin/python demo_site/manage.py migrate -v0 --skip-checks
	DEMO_TOOLBAR=0 DEMO_SQLITE_PATH=$(DEMO_DB) $(VENV)/bin/python demo_site/manage.py async_audit --probe-all

demo-html: $(VENV)/.installed
	DEMO_SQLITE_PATH=$(DEMO_DB) $(VENV)/bin/python demo_site/manage.py migrate -v0 --skip-checks
	DEMO_TOOLBAR=0 DEMO_SQLITE_PATH=$(DEMO_DB) $(VENV)/bin/python demo_site/manage.py async_audit --probe-all --format html --output demo-report.html
	@echo "wrote demo-report.html"

demo-serve: $(VENV)/.installed
	DEMO_SQLITE_PATH=$(DEMO_DB) $(VENV)/bin/python demo_site/manage.py migrate -v0 --skip-checks
	DEMO_SQLITE_PATH=$(DEMO_DB) $(VENV)/bin/uvicorn demo_site.asgi:application --port 8000

test:
	bash .ci/run
