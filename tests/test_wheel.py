"""The wheel is self-contained: built by maturin, installed alone into a fresh venv, it imports, finds its
resources and its Rust extension, and PyMoDAQ discovers its plugins — without the source tree.

It is built the way `make wheel` and the release workflow build the Linux wheel: abi3, linked by zig
against glibc 2.17 (`--zig --compatibility manylinux2014`), so it installs on Ubuntu 20.04 / RHEL 8
and PyPI accepts its tag; `auditwheel show` must agree with that tag. Its own cargo target folder
(target/wheel) keeps the zig-linked build from invalidating the development build's.

Dependencies: the fresh venv (no system site-packages) sees the main venv's third-party packages
through a path entry instead of downloading ~100 packages again on every run. A path entry is not
a site directory, so the editable install's `.pth` hook in the main venv is *not* processed there:
the only importable `pymodaq_plugins_aefi` is the wheel's, which the check below asserts. The
wheel's own Requires-Dist are checked against what that venv can see.
"""
import json
import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from performax_fake import cargo_env

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.machine() == "x86_64"),
                       reason="the zig-linked manylinux2014 wheel is built here on Linux x86_64; "
                              "the wheels workflow builds the others"),
]

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
    "udev_rule": (Path(pkg.__file__).parent / "resources" / "70-aefi-performax.rules").is_file(),
    "links": [hasattr(_engine, f) for f in ("performax_devices", "usb_devices", "serial_ports")],
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


def _zig_ready() -> bool:
    try:
        import ziglang  # noqa: F401  (maturin --zig runs `python -m ziglang`)
    except ImportError:
        return False
    return True


# A release build of the whole workspace from nothing in its own target folder (zig-linked): minutes
# on a 2-core machine, more when it is busy; the suite's 300 s default is for tests, not builds.
@pytest.mark.timeout(1200)
def test_wheel_installs_alone_and_is_discovered(tmp_path):
    bindir = Path(sys.executable).parent
    assert _zig_ready(), "the ziglang package is missing: make setup installs it (pip install ziglang)"
    env = {**cargo_env(), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run(str(bindir / "maturin"), "build", "--release", "--quiet", "--zig", "--compatibility", "manylinux2014",
         "--target-dir", str(ROOT / "target" / "wheel"), "-o", str(tmp_path / "dist"), cwd=ROOT, env=env)
    wheels = list((tmp_path / "dist").glob("pymodaq_plugins_aefi-*.whl"))
    assert len(wheels) == 1, wheels
    name = wheels[0].name
    assert "-cp310-abi3-" in name and "manylinux2014_x86_64" in name, name
    shown = _run(str(bindir / "auditwheel"), "show", str(wheels[0])).stdout
    assert 'consistent with the following platform tag:\n"manylinux_2_17_x86_64"' in shown, shown

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
    assert report["template"] and report["udev_rule"] and all(report["links"])
    assert report["unmet"] == []
    assert "AEFI" in report["move"]
    assert report["entry_points"].count("pymodaq_plugins_aefi") == 1
