"""docs/decisions/0003-ports-and-adapters.md: the domain is pure, the application knows only the domain."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "src" / "pymodaq_plugins_aefi"
FORBIDDEN_IN_CORE = ("pymodaq", "pymodaq_utils", "pymodaq_gui", "pymodaq_data", "qtpy", "PyQt5", "PyQt6",
                     "PySide6", "pyqtgraph", "h5py", "nidaqmx", "serial", "matplotlib", "tqdm")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            prefix = "." * node.level
            names.append(prefix + (node.module or ""))
            names += [prefix + (node.module or "") + "." + a.name for a in node.names]
    return names


def _violations(layer: str, allowed_relative: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name in _imports(path):
            top = name.lstrip(".").split(".")[0]
            if top in FORBIDDEN_IN_CORE or "_engine" in name.split("."):
                bad.append(f"{path.relative_to(PKG)} imports {name}")
            if name.startswith("..") and not name.startswith(allowed_relative):
                bad.append(f"{path.relative_to(PKG)} imports {name} (outer layer)")
            if name.startswith("pymodaq_plugins_aefi.") and not name.startswith(
                tuple("pymodaq_plugins_aefi." + a.strip(".") for a in allowed_relative)
            ):
                bad.append(f"{path.relative_to(PKG)} imports {name} (outer layer)")
    return bad


def test_domain_is_pure():
    assert _violations("domain", ("..domain",)) == []


def test_application_uses_only_domain_ports():
    assert _violations("application", ("..domain", "..application")) == []


def test_domain_imports_without_pymodaq(tmp_path):
    # Importing the domain must not pull pymodaq (which writes config folders and runs pip freeze).
    import subprocess
    import sys

    code = ("import sys, importlib, pkgutil, pymodaq_plugins_aefi.domain as d\n"
            "for m in pkgutil.walk_packages(d.__path__, d.__name__ + '.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('pymodaq', 'pymodaq_utils', 'h5py', 'PyQt6')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path)
