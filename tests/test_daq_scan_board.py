"""An ordinary step DAQ_Scan with the board viewer: Scan1D over X of DAQ_Move_AEFI with
DAQ_0DViewer_AEFIBoard as the detector, both on the simulated bench `sim://bench` (the plugins'
default link), so each step's measurement is the field where the stage truly stopped.
"""
import h5py
import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from daq_scan_helpers import headless_dashboard, load_modules, run_linear_scan1d
from pymodaq_plugins_aefi import _engine

pytestmark = [pytest.mark.gui, pytest.mark.slow]

URL = "sim://bench"
STEP_MM = 0.0218
Y_STEPS = 1468  # 32 mm: across the strongest feature of the simulated sample
X_MM = np.linspace(30.0, 46.0, 5)


@pytest.fixture
def dashboard():
    with _engine.ArcusController(URL) as arcus:
        arcus.set_position("X", round(X_MM[0] / STEP_MM))
        arcus.set_position("Y", Y_STEPS)
    with headless_dashboard("daq_scan_board") as dashboard:
        yield dashboard


def test_step_scan_of_the_board_reads_the_field_where_the_stage_stopped(dashboard):
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.managers.modules.loader import PluginInfo
    from pymodaq.utils.managers.modules.utils import ModuleType

    modules = load_modules(dashboard, [
        [PluginInfo(id=0, name="X", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="X")],
        [PluginInfo(id=1, name="Board", class_name="AEFIBoard", type=ModuleType.Detector,
                    daq_type=DAQTypesEnum.DAQ0D)]])
    modules["Board"].settings.child("detector_settings", "n_avg").setValue(20)
    QApplication.processEvents()

    path = run_linear_scan1d(dashboard, "X", "Board", X_MM)

    with h5py.File(path, "r") as f:
        nav = np.asarray(f["RawData/Scan000/NavAxes/Axis00"])
        group = f["RawData/Scan000/Detector000/Data0D/CH00"]
        channels = np.stack([np.asarray(group[f"Data{k:02d}"]).ravel() for k in range(6)])
    np.testing.assert_allclose(nav, X_MM, atol=STEP_MM)
    x_true = np.round(X_MM / STEP_MM) * STEP_MM
    expected = _engine.field_map_volts(x_true, np.full_like(x_true, Y_STEPS * STEP_MM)).T
    assert channels.shape == (6, len(X_MM))
    np.testing.assert_allclose(channels, expected, atol=1e-3)
