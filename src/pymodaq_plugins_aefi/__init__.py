"""PyMoDAQ plugins for the AEFI electric-field imaging bench, with a real-time Rust flyscan engine.

The PyMoDAQ configuration (``config``) is created on first use so that the pure domain
(``pymodaq_plugins_aefi.domain``) can be imported, and tested, without PyMoDAQ installed.
"""
from importlib import metadata as _metadata
from typing import Any

try:
    __version__ = _metadata.version(__name__)
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    # PyMoDAQ reads `<package>.config`; building it imports pymodaq_utils, which writes the user's
    # config folders, so it only happens when something outside the domain asks for it.
    if name in ("config", "Config"):
        from .utils import Config, PackageConfig

        globals()["Config"] = Config
        globals()["config"] = PackageConfig()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
