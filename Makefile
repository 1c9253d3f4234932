# mirage-mlir: `make demo` and `make test` each create .venv and install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mirage-installed

.PHONY: demo test test-fast pytest lit bench install clean fuzz

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mirage_mlir.examples.demo

# Both cores: pytest-xdist runs the suite on two workers; lit runs its own two.
test: $(STAMP)
	$(PY) -m pytest -q -n 2 tests
	$(VENV)/bin/lit -sv tests/filecheck

# Every area in under two minutes: pytest without the tests marked `slow` (whole examples
# optimised and lowered, fuzzing, huge graphs) and lit without the files that say
# `REQUIRES: full-suite`.
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" tests
	$(VENV)/bin/lit -s --param fast=1 tests/filecheck

pytest: $(STAMP)
	$(PY) -m pytest -q -n 2 tests

lit: $(STAMP)
	$(VENV)/bin/lit -sv tests/filecheck

bench: $(STAMP)
	$(PY) benchmarks/optimisation_time.py
	$(PY) benchmarks/einsum_planning.py
	$(PY) benchmarks/examples_optimisation.py
	$(PY) benchmarks/cpu_speed.py
	$(PY) benchmarks/compile_cache.py
	$(PY) benchmarks/zoo.py
	$(PY) benchmarks/peer_cases.py
	$(PY) benchmarks/deep_model.py

clean:
	rm -rf $(VENV) build *.egg-info

# Differential fuzzing: `make fuzz N=2000 SEED=1` draws N random programs in all, spread evenly over
# the fuzzers in tests/fuzz/; failing cases are saved, shrunk, under tests/regressions/.
N ?= 500
SEED ?= 0
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz MIRAGE_FUZZ_PROGRAMS=$(N) MIRAGE_FUZZ_SAVE=1 \
	  $(PY) -m pytest -q -p no:cacheprovider --hypothesis-seed=$(SEED) \
	  --hypothesis-show-statistics tests/fuzz
