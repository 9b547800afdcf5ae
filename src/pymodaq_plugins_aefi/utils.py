"""PyMoDAQ configuration of the plugin package (``~/.pymodaq/config_aefi.toml``), and the plugin
module loading the plugin subpackages share."""
import importlib
from pathlib import Path
from typing import Any

from pymodaq_utils.config import BaseConfig, GlobalConfig
from pymodaq_utils.logger import set_logger

RESOURCES = Path(__file__).parent / "resources"


@GlobalConfig.register()
class Config(BaseConfig):
    """Main class to deal with configuration values for this plugin."""

    config_template_path = RESOURCES / "config_template.toml"
    config_name = "config_aefi"


#: The name the configuration is registered under in GlobalConfig (`config_name` without `config_`).
CONFIG_NAME = "aefi"


class PackageConfig:
    """This package's entries of PyMoDAQ's GlobalConfig: `config("arcus", "url")` reads
    `GlobalConfig()("aefi", "arcus", "url")`, i.e. `[arcus] url` of ~/.pymodaq/config_aefi.toml.

    The registered Config is never constructed again: PyMoDAQ deprecates that (a DeprecationWarning,
    which a strict warnings filter turns into an import failure of every plugin).
    """

    def __call__(self, *path: str) -> Any:
        return GlobalConfig()(CONFIG_NAME, *path)


def import_plugin_modules(init_file: str, package: str, logger_name: str, kind: str) -> Path:
    """Import every plugin module next to a subpackage's `__init__.py` (`init_file`); return its path.

    A plugin that fails to import (a missing optional library) is logged and skipped so the others
    still load. The subpackage keeps the returned path as its module-level `path`: PyMoDAQ's
    discovery reads `module.path.parent` as the plugin folder.
    """
    logger = set_logger(logger_name, add_to_console=False)
    init_path = Path(init_file)
    for path in init_path.parent.iterdir():
        try:
            if "__init__" not in str(path) and path.suffix == ".py":
                importlib.import_module("." + path.stem, package)
        except Exception as e:
            logger.warning(f"{path.stem} {kind} plugin unavailable: {e!r}")
    return init_path
