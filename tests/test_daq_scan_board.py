"""An ordinary step DAQ_Scan with the board viewer: Scan1D over X of DAQ_Move_AEFI with
DAQ_0DViewer_AEFIBoard as the detector, both on the simulated bench `sim://bench` (the plugins'
default link), so each step's measurement is the field where the stage truly stopped.
"""
import time

import h5py
import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from pymodaq_plugins_aefi import _engine

pytestmark = [pytest.mark.gui, pytest.mark.slow]

URL = "sim://bench"
STEP_MM = 0.0218
Y_STEPS = 1468  # 32 mm: across the strongest feature of the simulated sample
X_MM = np.linspace(30.0, 46.0, 5)


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

    with _engine.ArcusController(URL) as arcus:
        arcus.set_position("X", round(X_MM[0] / STEP_MM))
        arcus.set_position("Y", Y_STEPS)
    mkQApp("daq_scan_board")
    shared_ui, dashboard = create_load_dashboard(show_dashboard=False)
    yield dashboard
    dashboard.quit_fun()
    shared_ui.parent.close()
    shared_ui.parent.deleteLater()
    QApplication.processEvents()


def test_step_scan_of_the_board_reads_the_field_where_the_stage_stopped(dashboard):
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.extensions.scan.daq_scan import DAQScan
    from pymodaq.utils.gui_utils.loader_utils import create_extension
    from pymodaq.utils.managers.modules.loader import PluginInfo
    from pymodaq.utils.managers.modules.utils import ModuleType

    loaded = []
    dashboard.module_creator.load_created_modules(
        [[PluginInfo(id=0, name="X", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="X")],
         [PluginInfo(id=1, name="Board", class_name="AEFIBoard", type=ModuleType.Detector,
                     daq_type=DAQTypesEnum.DAQ0D)]],
        callback=loaded.append)
    _process_until(lambda: loaded, 30, "the modules to initialize")
    modules = {m.title: m for m in loaded[0]}
    assert all(m.initialized_state for m in modules.values()), {t: m.initialized_state for t, m in modules.items()}
    modules["Board"].settings.child("detector_settings", "n_avg").setValue(20)
    QApplication.processEvents()

    window, scan = create_extension(dashboard, DAQScan, show_extension=False)
    try:
        scan.modules_manager.selected_actuators_name = ["X"]
        scan.modules_manager.selected_detectors_name = ["Board"]
        scan.scanner.set_scan_type_and_subtypes("Scan1D", "Linear")
        sub = scan.scanner.get_scanner_sub_settings()
        sub.child("start").setValue(float(X_MM[0]))
        sub.child("stop").setValue(float(X_MM[-1]))
        sub.child("step").setValue(float(X_MM[1] - X_MM[0]))
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
        group = f["RawData/Scan000/Detector000/Data0D/CH00"]
        channels = np.stack([np.asarray(group[f"Data{k:02d}"]).ravel() for k in range(6)])
    np.testing.assert_allclose(nav, X_MM, atol=STEP_MM)
    x_true = np.round(X_MM / STEP_MM) * STEP_MM
    expected = _engine.field_map_volts(x_true, np.full_like(x_true, Y_STEPS * STEP_MM)).T
    assert channels.shape == (6, len(X_MM))
    np.testing.assert_allclose(channels, expected, atol=1e-3)
