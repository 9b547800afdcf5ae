"""DAQ_Scan in flyscan mode with the simulated NI-DAQmx detector: Scan1D over Y of DAQ_Move_AEFI with
the "Flyscan line" viewer set to `daqmx_sim` (SYN start, 10 kHz). Each step flies one X line whose
samples come from the simulated DAQ's hardware-timed task; DAQ_Scan assembles the map in its HDF5
file, with the viewer's DAQ settings, and the map is checked against the known field.
"""
import h5py
import numpy as np
import pytest
from qtpy.QtWidgets import QApplication

from daq_scan_helpers import headless_dashboard, load_modules, run_linear_scan1d
from pymodaq_plugins_aefi import _engine

pytestmark = [pytest.mark.gui, pytest.mark.slow]

URL = "sim://bench"  # the plugins' default link (the viewer sets the config's HS 1500 pps on it)
STEP_MM = 0.0218
Y_MM = np.linspace(26.0, 38.0, 4)
X_MM = (24.0, 54.0)
POINTS = 31


@pytest.fixture
def dashboard():
    with _engine.ArcusController(URL) as arcus:
        arcus.query("HS=1500")  # the bench's full speed (32.7 mm/s, the viewers' shipped speed)
        arcus.set_position("Y", round(Y_MM[0] / STEP_MM))
    with headless_dashboard("daq_scan_daqmx") as dashboard:
        yield dashboard


def test_flyscan_mode_with_the_simulated_daq_maps_the_field_and_saves_its_settings(dashboard):
    from pymodaq.control_modules.enums import DAQTypesEnum
    from pymodaq.utils.managers.modules.loader import PluginInfo
    from pymodaq.utils.managers.modules.utils import ModuleType

    modules = load_modules(dashboard, [
        [PluginInfo(id=0, name="Y", class_name="AEFI", type=ModuleType.Actuator, ui="Simple", axis_name="Y")],
        [PluginInfo(id=1, name="Line", class_name="AEFIFlyscan", type=ModuleType.Detector,
                    daq_type=DAQTypesEnum.DAQ1D)]])
    viewer = modules["Line"].settings.child("detector_settings")
    for name, value in (("fast_start_mm", X_MM[0]), ("fast_stop_mm", X_MM[1]),
                        ("points_per_line", POINTS), ("sample_rate_hz", 10_000.0),
                        ("detector", "daqmx_sim")):
        viewer.child(name).setValue(value)
    viewer.child("daqmx", "daq_start_trigger").setValue("syn")
    QApplication.processEvents()

    path = run_linear_scan1d(dashboard, "Y", "Line", Y_MM)

    with h5py.File(path, "r") as f:
        nav = np.asarray(f["RawData/Scan000/NavAxes/Axis00"])
        group = f["RawData/Scan000/Detector000/Data1D/CH00"]
        maps = np.stack([np.asarray(group[f"Data{k:02d}"]) for k in range(6)])
        fast = np.asarray(group["Axis00"])
        settings_xml = "".join(str(v) for v in f["RawData/Scan000/Detector000"].attrs.values())
    np.testing.assert_allclose(nav, Y_MM, atol=STEP_MM)
    np.testing.assert_allclose(fast, np.linspace(*X_MM, POINTS))
    assert maps.shape == (6, len(Y_MM), POINTS)
    # the DAQ's settings are saved with the scan
    for text in ("daqmx_sim", "daq_channels", "Dev1/ai0:5", "daq_start_trigger", "syn"):
        assert text in settings_xml, text
    # each cell: the field averaged over the cell (10 kHz at 32.7 mm/s: ~300 samples per 1 mm cell)
    fast_mm = np.linspace(*X_MM, POINTS)
    offsets = np.linspace(-0.5, 0.5, 41)
    xx, yy, dd = np.meshgrid(fast_mm, np.round(Y_MM / STEP_MM) * STEP_MM, offsets)
    cells = _engine.field_map_volts((xx + dd).ravel(), yy.ravel()).T.reshape(6, len(Y_MM), POINTS, -1).mean(-1)
    inner, cells = maps[..., 1:-1], cells[..., 1:-1]
    assert np.isfinite(inner).all()
    rms = np.sqrt(np.mean((inner - cells) ** 2))
    assert rms <= 0.01 * np.ptp(cells), (rms, np.ptp(cells))
