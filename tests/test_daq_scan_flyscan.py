"""DAQ_Scan in flyscan mode, end to end, headless: a Scan1D over Y of DAQ_Move_AEFI with
DAQ_1DViewer_AEFIFlyscan as the detector, so each scan step flies one X line; DAQ_Scan assembles
the map in its own HDF5 file, which is checked against the known field. Both plugins share ONE
simulated controller (the Rust engine flies it; the virtual probe reads the field at the
simulator's true probe position).
"""
import time

import h5py
import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from pymodaq_plugins_aefi import _engine

pytestmark = [pytest.mark.gui, pytest.mark.slow]

URL = "sim://bench"  # the bench of the plugins' default link (package config), which the preset also uses
STEP_MM = 0.0218
Y_MM = np.linspace(5.0, 15.0, 5)
X_START_MM, X_STOP_MM, POINTS = 10.0, 30.0, 41


def _process_until(done, timeout_s, what):
    deadline = time.monotonic() + timeout_s
    while not done():
        QApplication.processEvents()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def dashboard():
    from pymodaq.dashboard import create_load_dashboard
    from pymodaq_gui.qt_utils import mkQApp

    mkQApp("daq_scan_flyscan")
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    yield dashboard
    dashboard.quit_fun()
    shared_ui.parent.close()
    shared_ui.parent.deleteLater()
    QApplication.processEvents()


def _load_modules(dashboard):
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.managers.modules.loader import PluginInfo
    from pymodaq.utils.managers.modules.utils import ModuleType

    loaded = []
    dashboard.module_creator.load_created_modules(
        [[PluginInfo(id=0, name="X", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="X"),
          PluginInfo(id=0, name="Y", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="Y",
                     is_master=False)],
         [PluginInfo(id=1, name="Fly", class_name="AEFIFlyscan", type=ModuleType.Detector,
                     daq_type=DAQTypesEnum.DAQ1D)]],
        callback=loaded.append)
    _process_until(lambda: loaded, 30, "the modules to initialize")
    modules = {m.title: m for m in loaded[0]}
    assert all(m.initialized_state for m in modules.values()), {t: m.initialized_state for t, m in modules.items()}
    return modules


def test_daq_scan_steps_y_and_flies_x_lines_into_a_map(dashboard):
    from pymodaq.extensions.scan.daq_scan import DAQScan
    from pymodaq.utils.gui_utils.loader_utils import create_extension

    modules = _load_modules(dashboard)
    stage_url = modules["Y"].settings[modules["Y"]._hw_settings_name, "url"]
    assert stage_url.startswith(URL) and modules["Fly"].settings[modules["Fly"]._hw_settings_name, "url"] == stage_url
    for name, value in dict(fast_start_mm=X_START_MM, fast_stop_mm=X_STOP_MM, points_per_line=POINTS,
                            speed_mm_s=30.0, sample_rate_hz=2000.0).items():
        modules["Fly"].settings.child("detector_settings", name).setValue(value)
    QApplication.processEvents()

    window, scan = create_extension(dashboard, DAQScan, show_extension=False)
    try:
        scan.modules_manager.selected_actuators_name = ["Y"]
        scan.modules_manager.selected_detectors_name = ["Fly"]
        scan.scanner.set_scan_type_and_subtypes("Scan1D", "Linear")
        sub = scan.scanner.get_scanner_sub_settings()
        sub.child("start").setValue(float(Y_MM[0]))
        sub.child("stop").setValue(float(Y_MM[-1]))
        sub.child("step").setValue(float(Y_MM[1] - Y_MM[0]))
        done = []
        scan.scan_done_signal.connect(lambda: done.append(True))
        scan.enable_workflow_actions(True)
        scan.do_scan()
        _process_until(lambda: done, 120, "the scan to end")
        path = scan.h5saver.settings["current_h5_file"]
    finally:
        scan.quit_fun()
        window.parent.close() if hasattr(window, "parent") else None

    with h5py.File(path, "r") as f:
        nav = np.asarray(f["RawData/Scan000/NavAxes/Axis00"])
        channel_group = f["RawData/Scan000/Detector000/Data1D/CH00"]
        maps = np.stack([np.asarray(channel_group[f"Data{k:02d}"]) for k in range(6)])
        fast = np.asarray(channel_group["Axis00"])
    np.testing.assert_allclose(nav, Y_MM, atol=STEP_MM)
    np.testing.assert_allclose(fast, np.linspace(X_START_MM, X_STOP_MM, POINTS))
    assert maps.shape == (6, len(Y_MM), POINTS)
    xx, yy = np.meshgrid(fast, np.round(Y_MM / STEP_MM) * STEP_MM)
    expected = _engine.field_map_volts(xx.ravel(), yy.ravel()).T.reshape(6, len(Y_MM), POINTS)
    np.testing.assert_allclose(maps[..., 1:-1], expected[..., 1:-1], atol=5e-3 * np.abs(expected).max())
