"""The differential checkbox of both flyscan viewers, on the simulated bench's board: the grab brings
the baseline and the difference beside the excited data, on the same axes."""
import itertools

import numpy as np
import pytest
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.daq_viewer_plugins.plugins_1D import daq_1Dviewer_AEFIFlyscan as fly1d
from pymodaq_plugins_aefi.daq_viewer_plugins.plugins_2D import daq_2Dviewer_AEFIFlyscan as fly2d

pytestmark = pytest.mark.gui
_BENCHES = itertools.count()
OFFSET_V = 0.02
NOISE_V = 300e-6
#: the board at one average, ~87 samples/s: 10 mm/s gives ~4 samples per 0.5 mm cell
BOARD = dict(detector="board", speed_mm_s=10.0, fast_start_mm=20.0, fast_stop_mm=30.0, points_per_line=11,
             differential=True, excitation_settle_ms=50.0)


@pytest.fixture
def url():
    return f"sim://diffviewer{next(_BENCHES)}?timing=none&board_offset_uv={OFFSET_V * 1e6:g}"


def test_the_checkbox_is_in_both_viewers_and_off_by_default():
    for module, cls in ((fly1d, "DAQ_1DViewer_AEFIFlyscan"), (fly2d, "DAQ_2DViewer_AEFIFlyscan")):
        names = {p["name"]: p for p in getattr(module, cls).params}
        assert names["differential"]["type"] == "bool" and names["differential"]["value"] is False
        assert names["excitation_settle_ms"]["value"] == 50.0


def test_1d_differential_grab_gives_the_line_its_baseline_and_the_difference(url):
    plugin = make_detector(fly1d.DAQ_1DViewer_AEFIFlyscan, url=url, board_url=url, **BOARD)
    assert plugin.initialized, plugin.init_info
    try:
        dte = grab_and_wait(plugin, timeout_ms=60000)
    finally:
        plugin.close()
    line, base, diff = (dte.get_data_from_name(n) for n in ("AEFI line", "AEFI baseline line", "AEFI difference line"))
    np.testing.assert_allclose(base.axes[0].get_data(), line.axes[0].get_data())
    b = np.asarray(base.data)
    assert np.isfinite(b).any() and np.nanmax(np.abs(b - OFFSET_V)) < 6 * NOISE_V
    np.testing.assert_allclose(np.asarray(diff.data), np.asarray(line.data) - b)
    assert _engine.sim_board_register_writes(url)[-2:] == [(53, 10_000), (52, 10_000)]


def test_2d_differential_grab_gives_three_maps_on_one_grid(url):
    plugin = make_detector(fly2d.DAQ_2DViewer_AEFIFlyscan, url=url, board_url=url, lines=2, slow_start_mm=30.0,
                           slow_stop_mm=35.0, **BOARD)
    assert plugin.initialized, plugin.init_info
    try:
        dte = grab_and_wait(plugin, timeout_ms=60000)
    finally:
        plugin.close()
    image, base, diff = (dte.get_data_from_name(n) for n in ("AEFI map", "AEFI baseline", "AEFI difference"))
    assert image.shape == base.shape == diff.shape == (2, 11)
    b = base.data[0]
    assert np.isfinite(b).any() and np.nanmax(np.abs(b - OFFSET_V)) < 6 * NOISE_V
    np.testing.assert_allclose(diff.data[0], image.data[0] - b)
