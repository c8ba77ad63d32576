# procmine: `make demo` sets everything up and runs the main job on logs/;
# `make test` sets everything up and runs the tests. Both work on a fresh
# Debian/Ubuntu machine (system packages via apt-get, as root or with sudo).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps demo test bench sample clean

system-deps:
	@if ! command -v dot >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" \
	    || ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing system packages: graphviz fonts-noto-cjk chromium (for the HTML report test)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
	    graphviz fonts-noto-cjk fontconfig chromium >/dev/null; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then \
	  echo "installing postgresql (the database import tests start a throw-away server)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	fi

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: system-deps $(BIN)/.installed

demo: setup
	$(BIN)/procmine demo --out out

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run.py

sample: setup
	$(BIN)/python -m procmine.samplegen logs/

clean:
	rm -rf out $(VENV) .pytest_cache
