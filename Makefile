# Two commands do everything on a fresh machine:
#   make demo   set up, then run a flyscan on the embedded simulator (aefi-flyscan)
#   make test   set up, then run the whole test suite (Rust and Python)
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup demo test lint-python lint-rust test-rust test-python test-qt-bindings bench wheel screenshots clean

setup:
	@bash .ci/setup.sh

demo: setup
	$(VENV)/bin/aefi-flyscan $(ARGS)

test: setup lint-python lint-rust test-rust test-python test-qt-bindings

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

# The package requires no Qt binding (PyMoDAQ's install brings one); the main venv runs on PyQt6.
# These venvs see the main venv's packages without PyQt6 and add another binding (the ones PyMoDAQ
# 5.3 offers as extras), then run the GUI tests of the plugins and the Dashboard again. PySide6 warns
# where PyMoDAQ disconnects a signal that has no connection (PyQt raises an error PyMoDAQ catches).
QT_BINDING_TESTS := tests/test_qt_binding.py tests/test_flyscan_viewers.py tests/test_preset.py tests/test_scan_view.py
test-qt-bindings:
	bash .ci/qt-binding-venv.sh "PySide6!=6.12.0" .venv-pyside6
	QT_QPA_PLATFORM=offscreen AEFI_QT_BINDING=PySide6 .venv-pyside6/bin/python -m pytest -m gui $(QT_BINDING_TESTS) \
	  -W "ignore:libpyside:RuntimeWarning"
	bash .ci/qt-binding-venv.sh "PyQt5" .venv-pyqt5
	QT_QPA_PLATFORM=offscreen AEFI_QT_BINDING=PyQt5 .venv-pyqt5/bin/python -m pytest -m gui $(QT_BINDING_TESTS)

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
	rm -rf target dist $(VENV) .venv-pyside6 .venv-pyqt5 src/pymodaq_plugins_aefi/*.so
