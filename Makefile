# procmine: `make demo` sets everything up and runs the main job on logs/;
# `make test` sets everything up and runs the tests. Both work on a fresh
# Debian/Ubuntu machine (system packages via apt-get, as root or with sudo,
# installed only when missing: scripts/system-deps).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
OLDEST ?= .venv-oldest

.PHONY: setup demo-deps test-deps demo serve test test-oldest bench bench-100m sample clean

# demo: graphviz and a CJK font only
demo-deps:
	@bash scripts/system-deps demo

# tests: also Chromium, LibreOffice Calc (workbook → PDF) and PostgreSQL
test-deps:
	@bash scripts/system-deps test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: demo-deps $(BIN)/.installed

demo: demo-deps $(BIN)/.installed
	$(BIN)/procmine demo -o out

# the workbench on the sample: a project in workbench-demo/ (admin's password printed once), http://127.0.0.1:8000/
serve: demo-deps $(BIN)/.installed
	$(BIN)/procmine serve --demo

test: test-deps $(BIN)/.installed
	$(BIN)/python -m pytest -q

# The oldest versions pyproject.toml allows for pandas, pyarrow, fastexcel and
# chinesecalendar (scripts/oldest-pins), in a venv of their own, then the suite.
$(OLDEST)/.installed: pyproject.toml scripts/oldest-pins
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install -q --upgrade pip
	$(PYTHON) scripts/oldest-pins > $(OLDEST)/constraints.txt
	$(OLDEST)/bin/python -m pip install -q -c $(OLDEST)/constraints.txt -e '.[test]'
	touch $@

test-oldest: test-deps $(BIN)/.installed $(OLDEST)/.installed
	@$(OLDEST)/bin/python -c "import importlib.metadata as m; \
	  print('oldest allowed:', ', '.join(f'{p} {m.version(p)}' for p in ('pandas', 'pyarrow', 'fastexcel', 'chinesecalendar')))"
	$(OLDEST)/bin/python -m pytest -q -p no:cacheprovider -m "not spark and not browser"  # Spark equivalence and the browser run once, in make test
	# a log written with the newest versions opens in the oldest pandas, without procmine
	PROCMINE_OLDEST_PANDAS_PYTHON=$(OLDEST)/bin/python $(BIN)/python -m pytest -q -p no:cacheprovider \
	  tests/test_interop.py -k oldest

# bench: every benchmark, the scale table up to 10M events and Spark vs embedded
# (BENCH_ARGS, e.g. "--only scale" or "--scale 100m", is passed on).
bench: setup
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# opt-in: the 100M-event step of the scale table (generates a ~2 GB partitioned log once)
bench-100m: setup
	$(BIN)/python benchmarks/run.py --only scale100m $(BENCH_ARGS)

sample: setup
	$(BIN)/python -m procmine.samplegen logs/

clean:
	rm -rf out $(VENV) $(OLDEST) .pytest_cache
