"""docs/decisions/0003-ports-and-adapters.md, what the import graph cannot show; the static import rules
are import-linter contracts in pyproject.toml (`make lint-python`)."""
import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "pymodaq_plugins_aefi"


def _engine_imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module or ''}.{a.name}" for a in node.names]
        else:
            continue
        yield from (f"{path.relative_to(PKG)}:{node.lineno} imports {n}" for n in names if "_engine" in n.split("."))


def test_plugins_never_import_the_extension():
    # `_engine` is compiled: import-linter sees an import of it as one of the package root, which the
    # plugins import anyway for PyMoDAQ's `config`.
    plugins = [p for d in ("daq_move_plugins", "daq_viewer_plugins") for p in sorted((PKG / d).rglob("*.py"))]
    assert plugins
    assert [hit for path in plugins for hit in _engine_imports(path)] == []


def test_domain_imports_without_pymodaq(tmp_path):
    # Importing the domain runs the package's __init__ first: it must not pull pymodaq (which writes
    # config folders and runs pip freeze), so PyMoDAQ's config stays lazy.
    code = ("import sys, importlib, pkgutil, pymodaq_plugins_aefi.domain as d\n"
            "for m in pkgutil.walk_packages(d.__path__, d.__name__ + '.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pymodaq', 'pymodaq_utils', 'h5py', 'PyQt6')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)


def test_the_package_imports_without_bluesky(tmp_path):
    # The Bluesky adapter is optional (the `bluesky` extra): the package, its composition root, CLI and
    # PyMoDAQ plugins load without it.
    code = ("import sys, pymodaq_plugins_aefi, pymodaq_plugins_aefi.bootstrap, pymodaq_plugins_aefi.cli.flyscan\n"
            "import pymodaq_plugins_aefi.adapters.flyscan_viewers\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('bluesky', 'ophyd_async', 'event_model')\n"
            "       or m.startswith('pymodaq_plugins_aefi.bluesky')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
