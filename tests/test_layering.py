"""DESIGN.md layering at run time; the static import rules are import-linter contracts in pyproject.toml
(`make lint-python`)."""
import subprocess
import sys


def test_domain_imports_without_pymodaq(tmp_path):
    # Importing the domain runs the package's __init__ first: it must not pull pymodaq (which writes
    # config folders and runs pip freeze), so PyMoDAQ's config stays lazy.
    code = ("import sys, importlib, pkgutil, pymodaq_plugins_aefi.domain as d\n"
            "for m in pkgutil.walk_packages(d.__path__, d.__name__ + '.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pymodaq', 'pymodaq_utils', 'h5py', 'PyQt6')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
