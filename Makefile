# PagePilot: every target sets up what it needs, so each works on a fresh clone.
#   make demo   broker + worker + replay of the bundled sample
#   make test   the whole test suite against a real Kafka broker

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/pagepilot
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: venv jars test demo kafka-up kafka-down bench

venv: $(STAMP)

# Reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e ".[test]"
	touch $@

# Apache Kafka jars for the embedded broker (Maven, cached; a no-op when cached or
# when KAFKA_BOOTSTRAP_SERVERS points at a cluster).
jars: $(STAMP)
	$(CLI) kafka fetch

test: $(STAMP) jars
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP) jars
	$(CLI) demo

kafka-up: $(STAMP) jars
	$(CLI) kafka up

kafka-down: $(STAMP)
	$(CLI) kafka down

bench: $(STAMP) jars
	$(CLI) bench
