# Two commands do everything on a fresh machine:
#   make demo   set up, then run a flyscan on the embedded simulator (aefi-flyscan)
#   make test   set up, then run the whole test suite (Rust and Python)
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?=

.PHONY: setup demo test lint-python lint-rust test-rust test-python test-qt-bindings test-wine bench wheel screenshots clean

setup:
	@bash .ci/setup.sh

demo: setup
	$(VENV)/bin/aefi-flyscan $(ARGS)

test: setup lint-python lint-rust test-rust test-python test-qt-bindings

# Python gates, configured in pyproject.toml: ruff (lint only, no reformatting), mypy on the core and
# the adapters (and on the Bluesky adapter, whose libraries need Python 3.11), import-linter's layering contracts.
lint-python:
	$(VENV)/bin/ruff check src tests tools
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --python-version 3.11 -p pymodaq_plugins_aefi.bluesky  # ophyd-async needs 3.11
	$(VENV)/bin/lint-imports --no-logo

# Lint gates: formatting, and clippy with every warning an error (unsafe blocks need a SAFETY note).
lint-rust:
	cargo fmt --all --check
	PYO3_PYTHON=$(abspath $(PY)) cargo clippy --workspace --all-targets --quiet -- -D warnings -D clippy::undocumented_unsafe_blocks
	@bash .ci/check-windows.sh

test-rust:
	PYO3_PYTHON=$(abspath $(PY)) cargo test --workspace --all-targets --quiet
	PYO3_PYTHON=$(abspath $(PY)) cargo test --workspace --doc --quiet

# pytest exits 5 when it collected nothing: any non-zero status fails `make test`. The fake
# PerformaxCom library (performax:// tests) is built first and handed to pytest by path.
test-python:
	fake=$$(bash .ci/build-performax-fake.sh) && AEFI_FAKE_PERFORMAX_DLL=$$fake QT_QPA_PLATFORM=offscreen $(PY) -m pytest

# The Windows build of the core and of the DLL transport (fake PerformaxCom as a real .dll), run
# under Wine (apt-get install wine64 gcc-mingw-w64-x86-64); the wheels workflow runs it on Windows.
test-wine:
	@bash .ci/wine-test.sh

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

# The Linux wheel PyPI accepts and Ubuntu 20.04 / RHEL 8 install: abi3, linked by zig against glibc
# 2.17 (manylinux2014), in its own cargo target folder; `auditwheel show` reports its tag.
wheel: setup
	@$(PY) -c "import ziglang" 2>/dev/null || $(VENV)/bin/pip install -q ziglang
	PATH=$(abspath $(VENV)/bin):$$PATH $(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --target-dir target/wheel -o dist
	$(VENV)/bin/auditwheel show dist/pymodaq_plugins_aefi-*manylinux2014_x86_64*.whl

clean:
	rm -rf target dist $(VENV) .venv-pyside6 .venv-pyqt5 src/pymodaq_plugins_aefi/*.so
