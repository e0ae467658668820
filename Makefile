# ecfnb: the two commands a newcomer runs are `make demo` and `make test`.
# Both run `make setup` first, which installs what is missing and is quick otherwise.
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 3141
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/ecfnb demo --port $(PORT) --lab

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check ecfnb tests benchmarks

bench: setup
	$(PY) benchmarks/bench_fsmap.py
	$(PY) benchmarks/bench_fuse.py

clean:
	rm -rf $(VENV) .pytest_cache .jupyter-demo.log build *.egg-info
