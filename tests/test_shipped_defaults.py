"""The bench as a new user finds it: `aefi-preset --install && dashboard -x aefi_flyscan_sim`, then Snap
on each viewer with every setting as shipped (the test session's PyMoDAQ configuration is created from
the package's config template, like a first start).

Before: the shipped defaults could not fly (the run-up left the travel), the failed grab emitted
nothing, both viewers stayed empty and the axes kept showing 0 mm.
"""
import numpy as np
import pytest
import tomllib
from qtpy.QtWidgets import QApplication

from daq_scan_helpers import headless_dashboard, load_preset, process_until
from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.colour_scale import VIEWER_ACTIONS
from pymodaq_plugins_aefi.utils import RESOURCES

pytestmark = [pytest.mark.gui, pytest.mark.slow]

SHIPPED = tomllib.loads((RESOURCES / "config_template.toml").read_text())["flyscan"]
Z_IN_PHASE = 4
STEP_MM = 0.0218


@pytest.fixture(scope="module")
def bench():
    with headless_dashboard("shipped_defaults") as dashboard:
        yield load_preset(dashboard)


def snap(module, timeout_s, during=None):
    """Press Snap and wait for the grab to end; `during()` runs on every turn of the event loop meanwhile."""
    done = []
    module.grab_done_signal.connect(done.append)
    try:
        module.snap()
        process_until(lambda: done or (during is not None and during()) and False, timeout_s, f"{module.title}")
    finally:
        module.grab_done_signal.disconnect(done.append)
    return done[0]


def shown_map(module):
    """What the module's 2D viewer displays now (None before the first frame)."""
    viewers = module.viewers
    return viewers[0]._raw_data if viewers else None


def flown_rows(image):
    return int(np.isfinite(image).all(axis=1).sum())


def field_over_cells(fast_mm, slow_mm, channel=Z_IN_PHASE):
    """The known field across each map cell along the fast axis (cells × 21 points over the pitch)."""
    pitch_mm = fast_mm[1] - fast_mm[0]
    offsets_mm = np.linspace(-pitch_mm / 2, pitch_mm / 2, 21)
    xx, yy, dd = np.meshgrid(fast_mm, slow_mm, offsets_mm)
    volts = _engine.field_map_volts((xx + dd).ravel(), yy.ravel())[:, channel]
    return volts.reshape(len(slow_mm), len(fast_mm), len(offsets_mm))


def assert_matches_the_field(measured, fast_mm, slow_mm, channel=Z_IN_PHASE, scale_slow_mm=None):
    """Every cell's value lies within the range the field takes over that cell (whatever the spread of its
    samples: a trigger thread descheduled on a loaded machine samples one side of a cell only), and the map
    as a whole matches the cell averages (the gridding averages the samples in a 1 mm cell; a point value would
    miss the curvature of the 5 mm features): RMS within 0.5 % of the field's range. Edge cells (the run-up
    ends there) and cells a busy machine left empty (NaN, at most 2 %) are left out. The range is the
    channel's over the rows `scale_slow_mm` (default: the rows measured): a single line may cross a channel
    where it is nearly zero, and the detector's noise is a fraction of the channel's scale, not of that line's."""
    cells = field_over_cells(fast_mm, slow_mm, channel)[:, 1:-1]
    interior = np.asarray(measured)[:, 1:-1]
    flown = np.isfinite(interior)
    assert flown.any(axis=1).all() and flown.mean() >= 0.98, np.argwhere(~flown)
    scale_rows = slow_mm if scale_slow_mm is None else scale_slow_mm
    tol = 5e-3 * np.abs(field_over_cells(fast_mm, scale_rows, channel)).max()
    low, high = cells.min(axis=-1) - tol, cells.max(axis=-1) + tol
    outside = flown & ((interior < low) | (interior > high))
    assert not outside.any(), [(i, interior[tuple(i)], low[tuple(i)], high[tuple(i)]) for i in np.argwhere(outside)]
    error = interior[flown] - cells.mean(axis=-1)[flown]
    assert np.sqrt(np.mean(error ** 2)) <= tol


def test_flyscan_map_live_then_stopped_then_complete(bench):
    module = bench["Flyscan map"]
    fast_mm = np.linspace(SHIPPED["fast_start_mm"], SHIPPED["fast_stop_mm"], SHIPPED["points_per_line"])
    slow_mm = np.linspace(SHIPPED["slow_start_mm"], SHIPPED["slow_stop_mm"], SHIPPED["lines"])

    # Stop after two rows: the partial map comes back, rows not flown are NaN
    live = {}

    def stop_after_two_rows():
        image = shown_map(module)
        if image is not None and not live and 2 <= flown_rows(image[0]) < SHIPPED["lines"]:
            live["frame"] = image.deepcopy()
            live["actions"] = {name: module.viewers[0].view.is_action_checked(key)
                               for name, key in zip(VIEWER_ACTIONS, ("autolevels", "histo"), strict=True)}
            module.stop_grab()
        return False

    partial = snap(module, 60, during=stop_after_two_rows).get_data_from_name("AEFI map")
    assert live, "no live rows were shown"
    # the live frame: the channel chosen in the settings (one channel: a grey scale, not RGB), both axes in mm
    frame = live["frame"]
    assert frame.labels == ["z_in_phase"] and module.viewers[0].view.histogrammer is not None
    slow_axis, fast_axis = sorted(frame.axes, key=lambda a: a.index)
    assert (slow_axis.units, fast_axis.units) == ("mm", "mm")
    np.testing.assert_allclose(fast_axis.get_data(), fast_mm)
    np.testing.assert_allclose(slow_axis.get_data(), slow_mm)
    # the colour bar is shown and follows each frame
    assert live["actions"] == {"AutoLevels": True, "Histogram": True}
    histogram = module.viewers[0].view.histogrammer.get_histogram("red")
    assert histogram.isVisible()
    flown = np.isfinite(partial.data[0]).any(axis=1)  # a flown row may miss a cell on a loaded machine
    rows = int(flown.sum())
    assert 2 <= rows < SHIPPED["lines"] and flown[:rows].all() and np.isnan(partial.data[0][rows:]).all()
    assert module.settings["detector_settings", "progress"].startswith("aborted")

    # a full raster with the shipped defaults
    shown = {axis: [] for axis in ("X", "Y")}
    for axis, values in shown.items():
        bench[axis].current_value_signal.connect(values.append)
    image = snap(module, 180).get_data_from_name("AEFI map")
    assert image.shape == (SHIPPED["lines"], SHIPPED["points_per_line"])
    slow_axis, fast_axis = sorted(image.axes, key=lambda a: a.index)
    np.testing.assert_allclose(fast_axis.get_data(), fast_mm)
    np.testing.assert_allclose(slow_axis.get_data(), np.round(slow_mm / STEP_MM) * STEP_MM, atol=STEP_MM)
    assert_matches_the_field(image.data[0], fast_mm, np.round(slow_mm / STEP_MM) * STEP_MM)
    # one dock per grab
    assert len(module.viewer_docks) == 1

    # the axes show where the flyscan left them, without a refresh (before: 0 mm until refresh was turned on)
    stage = bench["X"].controller_and_thread.controller
    def shows(values, position_mm):
        return bool(values) and values[-1].value() == pytest.approx(position_mm)

    for axis, values in shown.items():
        position_mm = stage.position_mm(axis)
        process_until(lambda v=values, p=position_mm: shows(v, p), 5, f"{axis} to show {position_mm} mm")
    assert shown["Y"][-1].value() == pytest.approx(slow_mm[-1], abs=STEP_MM)
    # serpentine: the last (16th) line flies back and stops at its run-out, before fast_start
    assert shown["X"][-1].value() < SHIPPED["fast_start_mm"]


def test_flyscan_line_at_the_current_y(bench):
    module = bench["Flyscan line"]
    stage = bench["X"].controller_and_thread.controller
    y_mm = stage.position_mm("Y")
    dte = snap(module, 60)
    line = dte.get_data_from_name("AEFI line")
    fast_mm = np.linspace(SHIPPED["fast_start_mm"], SHIPPED["fast_stop_mm"], SHIPPED["points_per_line"])
    assert line.shape == (SHIPPED["points_per_line"],) and len(line) == 6
    np.testing.assert_allclose(line.axes[0].get_data(), fast_mm)
    for channel in range(6):
        assert_matches_the_field([line.data[channel]], fast_mm, [y_mm], channel,
                                 scale_slow_mm=np.linspace(SHIPPED["slow_start_mm"], SHIPPED["slow_stop_mm"],
                                                           SHIPPED["lines"]))
    # one dock: the line; its figures are in the data (saved) but not displayed
    assert len(module.viewer_docks) == 1 and dte.get_data_from_name("line figures") is not None
    QApplication.processEvents()
