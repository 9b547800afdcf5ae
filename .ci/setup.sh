#!/usr/bin/env bash
# Idempotent set-up on a bare machine: the Debian libraries Qt needs offscreen, the venv, the
# Python dependencies and the Rust extension (release build). `make demo` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# Qt (PyQt6 wheels) loads these system libraries even offscreen; Xvfb is for screenshots.
APT_PACKAGES=(libgl1 libegl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libglib2.0-0 libdbus-1-3 libxcb-cursor0)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing ${missing[*]}"
    (apt-get update -qq || true) >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip
fi

# Dependencies (re)installed when pyproject.toml changes, and the installed metadata with them when
# README.md (the long description) does; the extension rebuilt every time (cargo makes that a no-op
# when the Rust sources did not change).
stamp="$VENV/.aefi-deps-stamp"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ README.md -nt "$stamp" ]; then
  echo "setup: installing the package and its dependencies into $VENV (first time: ~2 min)"
  # ziglang + auditwheel: the manylinux2014 wheel (make wheel, tests/test_wheel.py)
  # daqmx: nidaqmx and pymodaq_plugins_daqmx (the DAQ detector's packages; no NI runtime needed to import)
  "$VENV/bin/pip" install -q -e ".[test,bluesky,daqmx]" maturin ziglang auditwheel
  touch "$stamp"
fi
VIRTUAL_ENV="$PWD/$VENV" "$VENV/bin/maturin" develop --release --skip-install -q 2>&1 | grep -v "^📦\|^🔗\|^🐍\|^🛠\|^💻\|^📖\|^🎯" || true
"$VENV/bin/python" -c "import pymodaq_plugins_aefi._engine as e; print('setup: _engine', e.__version__, 'ready')"
