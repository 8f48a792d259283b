# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
WORKDIR ?= runs/demo
PYTEST_WORKERS ?= 2

.PHONY: demo test bench realism clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip 'setuptools<82' wheel

# Reinstall when setup.py changes; the stamp names the extras installed.
$(VENV)/.installed: setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

# The landmarks extra: dlib's detector, and the photo judge that scores the demo's report.
$(VENV)/.installed-landmarks: setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[landmarks]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed-landmarks
	$(BIN)/python -m hfr_jax.main --config=configs/pcfh.py:demo --workdir=$(WORKDIR)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=15 tests

# Side-by-side benchmarks; lightcnn.py compares against torch (the `test` extra).
bench: $(VENV)/.installed-test
	$(BIN)/python bench/input_pipeline.py
	$(BIN)/python bench/warp.py
	$(BIN)/python bench/lightcnn.py
	$(BIN)/python bench/pcfh_step.py
	$(BIN)/python bench/null_step.py

# Needs the `landmarks` extra: dlib detection rate / landmark error, pixel baseline.
realism: $(VENV)/.installed-landmarks
	$(BIN)/python bench/synthetic_realism.py

clean:
	rm -rf runs
