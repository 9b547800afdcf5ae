"""DAQ_Scan in flyscan mode, end to end, headless: a Scan1D over Y of DAQ_Move_AEFI with
DAQ_1DViewer_AEFIFlyscan as the detector, so each scan step flies one X line; DAQ_Scan assembles
the map in its own HDF5 file, which is checked against the known field. Both plugins share ONE
simulated controller (the Rust engine flies it; the virtual probe reads the field at the
simulator's true probe position).
"""
import h5py
import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from daq_scan_helpers import headless_dashboard, load_modules, run_linear_scan1d
from pymodaq_plugins_aefi import _engine

pytestmark = [pytest.mark.gui, pytest.mark.slow]

URL = "sim://bench"  # the bench of the plugins' default link (package config), which the preset also uses
STEP_MM = 0.0218
Y_MM = np.linspace(5.0, 15.0, 5)
X_START_MM, X_STOP_MM, POINTS = 10.0, 30.0, 41


@pytest.fixture
def dashboard():
    with headless_dashboard("daq_scan_flyscan") as dashboard:
        yield dashboard


def _load_modules(dashboard):
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.managers.modules.loader import PluginInfo
    from pymodaq.utils.managers.modules.utils import ModuleType

    return load_modules(dashboard, [
        [PluginInfo(id=0, name="X", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="X"),
         PluginInfo(id=0, name="Y", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="Y",
                    is_master=False)],
        [PluginInfo(id=1, name="Fly", class_name="AEFIFlyscan", type=ModuleType.Detector,
                    daq_type=DAQTypesEnum.DAQ1D)]])


def test_daq_scan_steps_y_and_flies_x_lines_into_a_map(dashboard):
    modules = _load_modules(dashboard)
    stage_url = modules["Y"].settings[modules["Y"]._hw_settings_name, "url"]
    assert stage_url.startswith(URL) and modules["Fly"].settings[modules["Fly"]._hw_settings_name, "url"] == stage_url
    for name, value in dict(fast_start_mm=X_START_MM, fast_stop_mm=X_STOP_MM, points_per_line=POINTS,
                            speed_mm_s=30.0, sample_rate_hz=2000.0).items():
        modules["Fly"].settings.child("detector_settings", name).setValue(value)
    QApplication.processEvents()

    path = run_linear_scan1d(dashboard, "Y", "Fly", Y_MM)

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
