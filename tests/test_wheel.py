"""The wheel is self-contained: built by maturin, installed alone into a fresh venv, it imports, finds its
resources and its Rust extension, and PyMoDAQ discovers its plugins — without the source tree.

Dependencies: the fresh venv (no system site-packages) sees the main venv's third-party packages
through a path entry instead of downloading ~100 packages again on every run. A path entry is not
a site directory, so the editable install's `.pth` hook in the main venv is *not* processed there:
the only importable `pymodaq_plugins_aefi` is the wheel's, which the check below asserts. The
wheel's own Requires-Dist are checked against what that venv can see.
"""
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

CHECK = r"""
import json, sys
from importlib import metadata
from pathlib import Path
from packaging.requirements import Requirement

import pymodaq_plugins_aefi as pkg
from pymodaq_plugins_aefi import _engine

dist = metadata.distribution("pymodaq_plugins_aefi")
unmet = []
for text in dist.requires or []:
    req = Requirement(text)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        if metadata.version(req.name) not in req.specifier:
            unmet.append(text)
    except metadata.PackageNotFoundError:
        unmet.append(text)

from pymodaq.utils.daq_utils import get_plugins
print(json.dumps({
    "package": pkg.__file__,
    "engine": _engine.__file__,
    "version": pkg.__version__,
    "template": (Path(pkg.__file__).parent / "resources" / "config_template.toml").is_file(),
    "unmet": unmet,
    "move": [p["name"] for p in get_plugins("daq_move")],
    "viewer1D": [p["name"] for p in get_plugins("daq_1Dviewer")],
    "entry_points": sorted(e.value for e in metadata.entry_points(group="pymodaq.plugins")),
}))
"""


def _run(*args, **kwargs):
    done = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed:\n{done.stderr[-3000:]}"
    return done


def _cargo_env() -> dict:
    # conftest moved HOME into the sandbox; cargo and rustup still live under the real one
    env = dict(os.environ)
    cargo = shutil.which("cargo")
    if cargo and "CARGO_HOME" not in env:
        cargo_home = Path(cargo).parent.parent
        env["CARGO_HOME"] = str(cargo_home)
        if "RUSTUP_HOME" not in env and (cargo_home.parent / ".rustup").is_dir():
            env["RUSTUP_HOME"] = str(cargo_home.parent / ".rustup")
    return env


def test_wheel_installs_alone_and_is_discovered(tmp_path):
    bindir = Path(sys.executable).parent
    _run(str(bindir / "maturin"), "build", "--release", "--quiet", "-o", str(tmp_path / "dist"), cwd=ROOT,
         env=_cargo_env())
    wheels = list((tmp_path / "dist").glob("pymodaq_plugins_aefi-*.whl"))
    assert len(wheels) == 1, wheels

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    purelib = Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (purelib / "main_venv_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index",
         str(wheels[0]))

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONPATH"] = str(ROOT / "tests" / "hermetic")  # sandboxed config writes only; no src/
    report = json.loads(_run(str(python), "-c", CHECK, cwd=tmp_path, env=env).stdout.strip().splitlines()[-1])

    assert report["package"].startswith(str(venv)), report["package"]
    assert report["engine"].startswith(str(venv)) and report["engine"].endswith(".so")
    assert report["template"]
    assert report["unmet"] == []
    assert "AEFI" in report["move"]
    assert report["entry_points"].count("pymodaq_plugins_aefi") == 1
