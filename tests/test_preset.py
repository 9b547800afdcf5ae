"""The dashboard preset: printed and installed by aefi-preset, and loaded by the Dashboard as a user does."""
import subprocess
import sys
from pathlib import Path

import pytest

from pymodaq_plugins_aefi.cli.preset import PRESET_NAME, PRESET_PATH

SCRIPT = Path(sys.executable).parent / "aefi-preset"


def test_aefi_preset_prints_the_shipped_file():
    out = subprocess.run([str(SCRIPT)], check=True, capture_output=True, text=True).stdout.strip()
    assert Path(out) == PRESET_PATH and PRESET_PATH.is_file()


def test_install_copies_into_the_experiments_folder(tmp_path):
    out = subprocess.run([str(SCRIPT), "--install"], check=True, capture_output=True, text=True)
    target = Path(out.stdout.strip())
    assert target.name == f"{PRESET_NAME}.xml" and target.parent.name == "experiments"
    assert target.read_bytes() == PRESET_PATH.read_bytes()
    assert f"dashboard -x {PRESET_NAME}" in out.stderr


@pytest.mark.gui
def test_dashboard_loads_the_preset_and_every_module_initializes():
    from daq_scan_helpers import headless_dashboard, load_preset

    with headless_dashboard("preset") as dashboard:
        modules = load_preset(dashboard)
        actuators = {title: m for title, m in modules.items() if m in dashboard.actuators_modules}
        detectors = {title: m for title, m in modules.items() if m in dashboard.detector_modules}
        assert set(actuators) == {"X", "Y"} and set(detectors) == {"Flyscan line", "Flyscan map"}
        assert actuators["X"].axis_name == "X" and actuators["Y"].axis_name == "Y"
        # one controller for both axes: the slave was given the master's stage
        shared = actuators["X"].controller_and_thread.controller
        assert shared is not None and actuators["Y"].controller_and_thread.controller is shared
        assert detectors["Flyscan line"].daq_type.name == "DAQ1D"
        assert detectors["Flyscan map"].daq_type.name == "DAQ2D"
