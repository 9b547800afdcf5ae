"""DAQ_Scan in flyscan mode, end to end, headless, exactly as README.md's recipe says: the shipped
preset, a Scan1D over Y with the numbers read from the README, the "Flyscan line" detector with its
shipped settings. Each scan step flies one X line; DAQ_Scan assembles the map in its own HDF5 file,
which is checked against the known field. Both plugins share ONE simulated controller (the Rust
engine flies it; the virtual probe reads the field at the simulator's true probe position).
"""
import ast
import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
import tomllib

from daq_scan_helpers import headless_dashboard, load_preset, run_linear_scan1d
from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.utils import RESOURCES

pytestmark = [pytest.mark.gui, pytest.mark.slow]

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
SHIPPED = tomllib.loads((RESOURCES / "config_template.toml").read_text())["flyscan"]
STEP_MM = 0.0218


def readme_recipe() -> tuple[str, str, np.ndarray]:
    """Actuator, detector and Y positions of README's "DAQ_Scan in flyscan mode" section."""
    section = README[README.index("### DAQ_Scan in flyscan mode"):]
    match = re.search(r"Select the actuator \*\*(\w+)\*\* and the detector \*\*([\w ]+)\*\*; scan type \*Scan1D\*, "
                      r"\*Linear\*,\s+start \*\*([\d.]+)\*\*, stop \*\*([\d.]+)\*\*, step \*\*([\d.]+)\*\*", section)
    assert match, "README's DAQ_Scan recipe changed: update this test with it"
    actuator, detector, start, stop, step = match.groups()
    return actuator, detector, np.arange(float(start), float(stop) + float(step) / 2, float(step))


def stored_text(attribute: str) -> str:
    """A string attribute as PyMoDAQ's saver writes it: JSON {"module", "type", "data": repr(value)}."""
    stored = json.loads(attribute)
    assert stored["type"] == "str", stored
    return ast.literal_eval(stored["data"])


@pytest.fixture
def dashboard():
    with headless_dashboard("daq_scan_flyscan") as dashboard:
        yield dashboard


def test_readme_recipe_steps_y_and_flies_x_lines_into_a_map(dashboard):
    # imported here: a plugin module imported before PyMoDAQ is hidden from PyMoDAQ's plugin discovery
    from pymodaq_plugins_aefi.adapters.flyscan_viewers import LINE_FIGURES

    actuator, detector, y_mm = readme_recipe()
    assert (actuator, detector) == ("Y", "Flyscan line") and len(y_mm) == 10
    modules = load_preset(dashboard)

    path = run_linear_scan1d(dashboard, actuator, detector, y_mm, probe_detectors=True)

    fast_mm = np.linspace(SHIPPED["fast_start_mm"], SHIPPED["fast_stop_mm"], SHIPPED["points_per_line"])
    with h5py.File(path, "r") as f:
        nav = np.asarray(f["RawData/Scan000/NavAxes/Axis00"])
        line_group = f["RawData/Scan000/Detector000/Data1D/CH00"]
        maps = np.stack([np.asarray(line_group[f"Data{k:02d}"]) for k in range(6)])
        fast = np.asarray(line_group["Axis00"])
        figures_group = f["RawData/Scan000/Detector000/Data0D/CH00"]
        figures = {stored_text(figures_group[f"Data{k:02d}"].attrs["label"]): np.asarray(figures_group[f"Data{k:02d}"])
                   for k in range(len(LINE_FIGURES))}
    np.testing.assert_allclose(nav, y_mm, atol=STEP_MM)
    np.testing.assert_allclose(fast, fast_mm)
    assert maps.shape == (6, len(y_mm), SHIPPED["points_per_line"])
    # the cell average of the known field along X (the gridding averages the samples in each 1 mm cell)
    pitch_mm = fast_mm[1] - fast_mm[0]
    offsets_mm = np.linspace(-pitch_mm / 2, pitch_mm / 2, 21)
    xx, yy, dd = np.meshgrid(fast_mm, np.round(y_mm / STEP_MM) * STEP_MM, offsets_mm)
    cells = _engine.field_map_volts((xx + dd).ravel(), yy.ravel()).T.reshape(6, len(y_mm), len(fast_mm), -1)
    # A trigger thread descheduled for tens of ms on a loaded machine can leave a 1 mm cell without a
    # sample (NaN, counted in "grid filled"), or with samples on one side of it only: every cell must lie
    # within the range the field takes over it, and the map as a whole match the cell averages.
    interior, cells = maps[..., 1:-1], cells[..., 1:-1, :]
    flown = np.isfinite(interior)
    assert flown.mean() >= 0.98, np.argwhere(~flown[0])
    tol = 5e-3 * np.abs(cells).max()
    outside = flown & ((interior < cells.min(axis=-1) - tol) | (interior > cells.max(axis=-1) + tol))
    assert not outside.any(), np.argwhere(outside)
    assert np.sqrt(np.mean((interior[flown] - cells.mean(axis=-1)[flown]) ** 2)) <= tol
    # the figures of every line were saved with it, though the Dashboard shows the line alone
    assert set(figures) == set(LINE_FIGURES)
    assert all(values.shape == (len(y_mm),) for values in figures.values())
    assert (figures["samples"] > SHIPPED["points_per_line"]).all() and (figures["grid filled (%)"] >= 95).all()
    np.testing.assert_allclose(figures["grid filled (%)"], 100 * np.isfinite(maps[0]).mean(axis=1))
    np.testing.assert_allclose(figures["mean speed (mm/s)"], SHIPPED["speed_mm_s"], rtol=0.02)
    assert len(modules["Flyscan line"].viewer_docks) == 1
