# ecfnb: the two commands a newcomer runs are `make demo` and `make test`.
# Both run `make setup` first, which installs what is missing and is quick otherwise.
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 3141
PYTEST_ARGS ?=

.PHONY: setup demo test test-debian13 lint bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/bin/ecfnb demo --port $(PORT) --lab

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The same `make setup && make test` in a cached Debian 13 chroot (ecFlow 5.13, Python 3.13),
# as root. No host setup needed: everything runs inside (scripts/debian13.sh).
test-debian13:
	@bash scripts/debian13.sh

lint: setup
	$(VENV)/bin/ruff check ecfnb tests benchmarks
	cd $(CURDIR) && $(VENV)/bin/lint-imports

bench: setup
	$(PY) benchmarks/bench_fsmap.py
	$(PY) benchmarks/bench_fuse.py

clean:
	rm -rf $(VENV) .pytest_cache .jupyter-demo.log build *.egg-info
