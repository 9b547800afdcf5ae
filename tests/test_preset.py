"""The dashboard preset: printed and installed by aefi-preset, and loaded by the Dashboard as a user does."""
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qtpy.QtWidgets import QApplication

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
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq_gui.qt_utils import mkQApp

    from pymodaq_plugins_aefi.cli.preset import install

    mkQApp("preset")
    path = install()
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    try:
        assert PRESET_NAME in dashboard.experiment_manager.entries
        dashboard.experiment_manager.entry = PRESET_NAME
        dashboard.experiment_manager.execute_entry(path)
        deadline = time.monotonic() + 30
        while len(dashboard.actuators_modules) + len(dashboard.detector_modules) < 4 or not all(
                m.initialized_state for m in dashboard.actuators_modules + dashboard.detector_modules):
            QApplication.processEvents()
            assert time.monotonic() < deadline, "the preset's modules did not all initialize"
            time.sleep(0.01)
        actuators = {m.title: m for m in dashboard.actuators_modules}
        detectors = {m.title: m for m in dashboard.detector_modules}
        assert set(actuators) == {"X", "Y"} and set(detectors) == {"Flyscan line", "Flyscan map"}
        assert actuators["X"].axis_name == "X" and actuators["Y"].axis_name == "Y"
        # one controller for both axes: the slave was given the master's stage
        shared = actuators["X"].controller_and_thread.controller
        assert shared is not None and actuators["Y"].controller_and_thread.controller is shared
        assert detectors["Flyscan line"].daq_type.name == "DAQ1D"
        assert detectors["Flyscan map"].daq_type.name == "DAQ2D"
    finally:
        dashboard.quit_fun()
        shared_ui.parent.close()
        shared_ui.parent.deleteLater()
        QApplication.processEvents()
