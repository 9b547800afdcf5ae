"""The package brings no Qt binding of its own: it runs on the one the user's PyMoDAQ install brought.

`make test` runs the GUI tests again in venvs where PyQt6 is absent and another binding is present
(.ci/qt-binding-venv.sh); AEFI_QT_BINDING names the binding expected there (PyQt6 in the main venv).
"""
import ast
import os
import sys
from pathlib import Path

import pytest

BINDINGS = ("PyQt5", "PyQt6", "PySide2", "PySide6")
PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pymodaq_plugins_aefi"


@pytest.mark.gui
def test_qt_runs_on_the_binding_of_this_environment():
    import pymodaq  # noqa: F401  (first: importing a plugin module before PyMoDAQ hides it from PyMoDAQ's discovery)
    import pyqtgraph
    import qtpy

    from pymodaq_plugins_aefi.daq_viewer_plugins.plugins_2D import daq_2Dviewer_AEFIFlyscan  # noqa: F401

    expected = os.environ.get("AEFI_QT_BINDING", "PyQt6")
    assert expected == qtpy.API_NAME and expected == pyqtgraph.Qt.QT_LIB
    assert [name for name in BINDINGS if name != expected and name in sys.modules] == []


def test_no_module_imports_a_binding_directly():
    """Only qtpy: a direct import would tie the package to one binding."""
    direct = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            direct += [f"{path.relative_to(PACKAGE)}: {name}" for name in names if name.split(".")[0] in BINDINGS]
    assert direct == []
