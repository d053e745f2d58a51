# newswire: the two commands a newcomer needs are `make demo` and `make test`.
# Both create the virtualenv, install the package, the spaCy model and the Kafka
# jars on first use; nothing has to be installed or started by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-unit test-integration test-cluster kafka-jars bench lint clean config-docs lock

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

kafka-jars: $(STAMP)
	$(BIN)/python -c "from workers.local.broker import ensure_jars; print(ensure_jars())"

## The main job on the local default: broker, worker, demo pages, records shown.
demo: kafka-jars
	$(BIN)/python scripts/demo.py

## The whole test suite (unit + integration on a real local Kafka broker).
test: kafka-jars
	$(BIN)/python -m pytest -ra

## Style and types: ruff over the code, mypy over the package (strict on workers/pipeline/); config in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check workers tests benchmarks scripts
	$(BIN)/mypy

test-unit: $(STAMP)
	$(BIN)/python -m pytest -ra tests/unit

test-integration: kafka-jars
	$(BIN)/python -m pytest -ra tests/integration

## Delivery on a local 3-broker KRaft cluster with brokers killed mid-stream, both modes (also part of `make test`).
test-cluster: kafka-jars
	$(BIN)/python -m pytest -ra -s tests/integration/delivery/test_cluster.py

bench: kafka-jars
	$(BIN)/python benchmarks/extraction.py
	$(BIN)/python benchmarks/fetch.py
	$(BIN)/python benchmarks/entities.py
	$(BIN)/python benchmarks/e2e.py

## Re-pin requirements.lock (used by the Makefile and the Dockerfile) from the current venv.
lock: $(STAMP)
	$(BIN)/python deploy/lock.py > requirements.lock

config-docs: $(STAMP)
	$(BIN)/newswire config --markdown

clean:
	rm -rf $(VENV) .newswire .pytest_cache .mypy_cache .ruff_cache
