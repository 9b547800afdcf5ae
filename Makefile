# Two commands do everything on a fresh machine:
#   make demo   set up, then run a flyscan on the embedded simulator (aefi-flyscan)
#   make test   set up, then run the whole test suite (Rust and Python)
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup demo test test-rust test-python bench wheel clean

setup:
	@bash .ci/setup.sh

demo: setup
	$(VENV)/bin/aefi-flyscan $(ARGS)

test: setup test-rust test-python

test-rust:
	PYO3_PYTHON=$(abspath $(PY)) cargo test --workspace --all-targets --quiet

# pytest exits 5 when it collected nothing: any non-zero status fails `make test`.
test-python:
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: setup
	$(VENV)/bin/aefi-bench $(ARGS)

wheel:
	$(VENV)/bin/maturin build --release -o dist

clean:
	rm -rf target dist $(VENV) src/pymodaq_plugins_aefi/*.so
