"""The fake PerformaxCom library (the aefi-performax-fake cdylib) for the performax:// tests.

`make test` builds it and passes its path in AEFI_FAKE_PERFORMAX_DLL; a bare `pytest` builds it
here the same way (.ci/build-performax-fake.sh: cargo names the file it built). Its options (device
count, USB timing, a truth log, simulator options) are read once per process from
AEFI_FAKE_PERFORMAX_OPTIONS: the in-process tests use the defaults (4 devices `4ex00`..`4ex03`,
USB timing), a subprocess gets its own.
"""
import os
import shutil
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cargo_env() -> dict:
    # conftest moved HOME into the sandbox; cargo and rustup still live under the real one
    env = dict(os.environ)
    cargo = shutil.which("cargo")
    if cargo and "CARGO_HOME" not in env:
        cargo_home = Path(cargo).parent.parent
        env["CARGO_HOME"] = str(cargo_home)
        if "RUSTUP_HOME" not in env and (cargo_home.parent / ".rustup").is_dir():
            env["RUSTUP_HOME"] = str(cargo_home.parent / ".rustup")
    return env


@lru_cache(maxsize=1)
def fake_library() -> Path:
    given = os.environ.get("AEFI_FAKE_PERFORMAX_DLL")
    if given:
        return Path(given)
    done = subprocess.run(["bash", str(ROOT / ".ci" / "build-performax-fake.sh")], capture_output=True, text=True,
                          env={**cargo_env(), "PYTHON": sys.executable}, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


def url(device: str = "0") -> str:
    return f"performax://{device}?dll={fake_library()}"
