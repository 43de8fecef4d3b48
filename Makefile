# gaussdb-batch: the two commands are `make demo` and `make test`; both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: help venv db demo test airflow psql down clean bench

help:
	@echo "make demo     load TPC-H into the local GaussDB stand-in and run the demo batches end to end"
	@echo "make test     everything CI checks (starts what it needs)"
	@echo "make airflow  airflow standalone on http://127.0.0.1:8080 with this project's DAGs (AIRFLOW_PORT=8081 for another port)"
	@echo "make psql     psql on the local target database (PSQL_DB=gbsource for the source)"
	@echo "make bench    benchmarks (figures, not pass/fail): see BENCHMARKS.md"
	@echo "make down     stop the local database;  make clean  remove .local/ (database, Airflow home)"

$(STAMP): requirements.txt plugins/pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	PYTHONWARNINGS=ignore $(VENV)/bin/pip install -q -r requirements.txt  # no setuptools build warnings
	@touch $@

venv: $(STAMP)

db:
	@scripts/localdb.sh start

demo: venv db
	@scripts/demo.sh

test: venv db
	@scripts/test.sh

airflow: venv db
	@scripts/airflow_standalone.sh

psql: db
	@. .local/pg/env && PGPASSWORD="$$GAUSSDB_BATCH_PG_PASSWORD" "$$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)" -h "$$GAUSSDB_BATCH_PG_HOST" \
	  -p "$$GAUSSDB_BATCH_PG_PORT" -U "$$GAUSSDB_BATCH_PG_USER" "$${PSQL_DB:-gbtarget}"

bench: venv db
	@. scripts/env.sh && python -m pip install -q -r bench/requirements.txt && python bench/run.py

down:
	@scripts/localdb.sh stop

clean: down
	rm -rf .local
