"""PyMoDAQ configuration of the plugin package (``~/.pymodaq/config_aefi.toml``)."""
from pathlib import Path

from pymodaq_utils.config import BaseConfig, GlobalConfig

RESOURCES = Path(__file__).parent / "resources"


@GlobalConfig.register()
class Config(BaseConfig):
    """Main class to deal with configuration values for this plugin."""

    config_template_path = RESOURCES / "config_template.toml"
    config_name = "config_aefi"
