# Two commands do everything on a fresh machine:
#   make demo   set up, then run a flyscan on the embedded simulator (aefi-flyscan)
#   make test   set up, then run the whole test suite (Rust and Python)
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup demo test lint-python lint-rust test-rust test-python bench wheel screenshots clean

setup:
	@bash .ci/setup.sh

demo: setup
	$(VENV)/bin/aefi-flyscan $(ARGS)

test: setup lint-python lint-rust test-rust test-python

# Python gates, configured in pyproject.toml: ruff (lint only, no reformatting), mypy on the core and
# the adapters, import-linter's layering contracts.
lint-python:
	$(VENV)/bin/ruff check src tests tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-logo

# Lint gates: formatting, and clippy with every warning an error (unsafe blocks need a SAFETY note).
lint-rust:
	cargo fmt --all --check
	PYO3_PYTHON=$(abspath $(PY)) cargo clippy --workspace --all-targets --quiet -- -D warnings -D clippy::undocumented_unsafe_blocks
	@bash .ci/check-windows.sh

test-rust:
	PYO3_PYTHON=$(abspath $(PY)) cargo test --workspace --all-targets --quiet
	PYO3_PYTHON=$(abspath $(PY)) cargo test --workspace --doc --quiet

# pytest exits 5 when it collected nothing: any non-zero status fails `make test`.
test-python:
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest

bench: setup
	$(VENV)/bin/aefi-bench $(ARGS)

# README pictures of the real windows, drawn by an X server in memory (apt-get install xvfb)
XVFB := xvfb-run -a -s "-screen 0 1680x1050x24" env QT_QPA_PLATFORM=xcb
screenshots: setup
	@dpkg -s xvfb libxcb-icccm4 libxcb-keysyms1 >/dev/null 2>&1 || \
	  (echo "screenshots need: apt-get install xvfb libxcb-icccm4 libxcb-keysyms1 (Qt's xcb platform)" >&2; exit 1)
	$(XVFB) $(PY) tools/screenshots.py
	$(XVFB) $(VENV)/bin/aefi-flyscan --gui --no-progress --out $(abspath target/shots) --screenshot docs/img/flyscan_gui.png
	cp target/shots/map.png docs/img/flyscan_map.png

wheel:
	$(VENV)/bin/maturin build --release -o dist

clean:
	rm -rf target dist $(VENV) src/pymodaq_plugins_aefi/*.so
