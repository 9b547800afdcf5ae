"""Keeps PyMoDAQ's configuration writes inside the test sandbox, in this process and in children.

pymodaq_utils hard-codes the system-wide config base `Path('/etc')` and uses it while the module
is being imported, so it cannot be patched afterwards: this import hook rewrites that literal in
the module source before it runs. Active only when AEFI_TEST_ETC names the sandbox folder; the
test suite puts this folder first on PYTHONPATH so subprocesses (the CLIs) get it too.
"""
import importlib.abc
import importlib.machinery
import os
import sys

_TARGET = "pymodaq_utils.config"


class _EtcRedirect(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, etc_dir: str) -> None:
        self.etc_dir = etc_dir

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.origin is None:
            return None
        self._origin = spec.origin
        return importlib.machinery.ModuleSpec(fullname, self, origin=spec.origin)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        with open(self._origin, encoding="utf-8") as f:
            source = f.read()
        if "Path('/etc')" not in source:
            raise ImportError("pymodaq_utils.config no longer has Path('/etc'): update tests/hermetic")
        source = source.replace("Path('/etc')", f"Path({self.etc_dir!r})")
        module.__file__ = self._origin
        exec(compile(source, self._origin, "exec"), module.__dict__)


def install() -> None:
    etc_dir = os.environ.get("AEFI_TEST_ETC")
    if etc_dir and not any(isinstance(f, _EtcRedirect) for f in sys.meta_path):
        os.makedirs(etc_dir, exist_ok=True)
        sys.meta_path.insert(0, _EtcRedirect(etc_dir))


install()
