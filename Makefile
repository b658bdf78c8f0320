# PagePilot: every target sets up what it needs, so each works on a fresh clone.
#   make demo   broker + worker + replay of the bundled sample
#   make test   the whole test suite against a real Kafka broker and headless Chromium

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/pagepilot
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
ARGS ?=
CHROMIUM ?= /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv jars browser test demo kafka-up kafka-down bench

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

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads one).
browser:
	@test -x $(CHROMIUM) || { echo "installing Chromium (Debian packages) for the browser tests ..."; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: $(STAMP) jars browser
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(STAMP) jars
	$(CLI) demo $(ARGS)

kafka-up: $(STAMP) jars
	$(CLI) kafka up

kafka-down: $(STAMP)
	$(CLI) kafka down

bench: $(STAMP) jars
	$(CLI) bench
