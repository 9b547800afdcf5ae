import importlib
from pathlib import Path

from pymodaq_utils.logger import set_logger

logger = set_logger("viewer_plugins_2D", add_to_console=False)

# PyMoDAQ's discovery reads `module.path.parent`: this module-level name must stay `path`.
for path in Path(__file__).parent.iterdir():
    try:
        if "__init__" not in str(path) and path.suffix == ".py":
            importlib.import_module("." + path.stem, __package__)
    except Exception as e:
        logger.warning(f"{path.stem} viewer plugin unavailable: {e!r}")
