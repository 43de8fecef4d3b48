# gaussdb-batch: the two commands are `make demo` and `make test`; both work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: help venv db demo test airflow down clean bench

help:
	@echo "make demo     load TPC-H into the local GaussDB stand-in and run the demo batches end to end"
	@echo "make test     everything CI checks (starts what it needs)"
	@echo "make airflow  airflow standalone on http://127.0.0.1:8080 with this project's DAGs"
	@echo "make bench    benchmarks (figures, not pass/fail): see BENCHMARKS.md"
	@echo "make down     stop the local database;  make clean  remove .local/ (database, Airflow home)"

$(STAMP): requirements.txt plugins/pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	@# The editable install leaves plugins/gaussdb_batch.egg-info behind; with plugins/ on sys.path (it is
	@# Airflow's plugins folder) it is a second copy of the distribution and every entry point (the
	@# Batches page plugin) would be registered twice. The installed metadata is in the venv.
	rm -rf plugins/gaussdb_batch.egg-info
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

bench: venv db
	@. scripts/env.sh && python bench/run.py

down:
	@scripts/localdb.sh stop

clean: down
	rm -rf .local
