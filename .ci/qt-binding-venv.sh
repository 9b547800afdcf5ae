#!/usr/bin/env bash
# A venv like the main one but on another Qt binding: usage `.ci/qt-binding-venv.sh PySide6-Essentials .venv-pyside6`.
#
# The package requires no Qt binding: it runs on whichever PyMoDAQ's install brought. To test that
# cheaply, this venv sees every package of the main venv (symbolic links in its own site-packages,
# so .pth files, the editable install included, work as in a real install) EXCEPT the PyQt6 family,
# and gets the other binding from pip. Nothing else is downloaded or built again; the links are
# refreshed on every run so the venv follows the main one.
set -euo pipefail
cd "$(dirname "$0")/.."
BINDING=${1:?binding requirement, e.g. PySide6-Essentials}
TARGET=${2:?venv folder}
MAIN=${VENV:-.venv}
PYTHON="$MAIN/bin/python"

main_site=$("$PYTHON" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
if [ ! -x "$TARGET/bin/python" ]; then
  echo "qt-binding-venv: creating $TARGET"
  "$PYTHON" -m venv "$TARGET"
fi
site=$("$TARGET/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")

# drop the links of a previous run (the venv's own pip, setuptools and binding are real folders)
find "$site" -maxdepth 1 -type l -delete
shopt -s nocaseglob
for entry in "$main_site"/*; do
  name=$(basename "$entry")
  case "$name" in
    PyQt6|PyQt6*|pyqt6*|PyQt5|PyQt5*|pyqt5*|PySide6|PySide6*|pyside6*|shiboken6*) continue ;;  # bindings
  esac
  [ -e "$site/$name" ] || ln -s "$(realpath "$entry")" "$site/$name"
done
shopt -u nocaseglob

# the package's console scripts, run by this venv's Python (the tests start some of them)
"$TARGET/bin/python" - <<'PY'
import sys
from importlib.metadata import distribution
from pathlib import Path

bindir = Path(sys.executable).parent
for entry in distribution("pymodaq_plugins_aefi").entry_points:
    if entry.group == "console_scripts":
        script = bindir / entry.name
        script.write_text(f"#!{sys.executable}\nimport sys\nfrom {entry.module} import {entry.attr}\n"
                          f"sys.exit({entry.attr}())\n")
        script.chmod(0o755)
PY

if ! "$TARGET/bin/python" -m pip show -q "${BINDING%%[<>=!~ ]*}" >/dev/null 2>&1; then
  echo "qt-binding-venv: installing $BINDING into $TARGET"
  "$TARGET/bin/python" -m pip install -q "$BINDING"
fi
