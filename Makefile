# mirage-mlir: `make demo` and `make test` each create .venv and install first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mirage-installed

.PHONY: demo test pytest lit bench install clean fuzz

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m mirage_mlir.examples.demo

test: $(STAMP)
	$(PY) -m pytest -q tests
	$(VENV)/bin/lit -sv tests/filecheck

pytest: $(STAMP)
	$(PY) -m pytest -q tests

lit: $(STAMP)
	$(VENV)/bin/lit -sv tests/filecheck

bench: $(STAMP)
	$(PY) benchmarks/optimisation_time.py
	$(PY) benchmarks/einsum_planning.py
	$(PY) benchmarks/examples_optimisation.py
	$(PY) benchmarks/cpu_speed.py
	$(PY) benchmarks/compile_cache.py

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
