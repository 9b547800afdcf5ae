"""A flyscan study with the acquisition board while the board viewer holds its link: the study
leases the board through the same arbiter, the map matches the known field, and the viewer's link
comes back (configuration written again) when the study ends."""
import itertools

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.aefi_board import AefiBoard, BoardBusyError, BoardSettings
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.domain.config import FlyScanConfig

pytestmark = pytest.mark.slow
_BENCHES = itertools.count()


def _bench() -> str:
    url = f"sim://board-study{next(_BENCHES)}"
    with _engine.ArcusController(url) as arcus:  # the bench's speeds: HS 1500 pps, LS 10 pps
        arcus.query("HS=1500")
        arcus.query("LS=10")
        for axis in ("X", "Y"):
            arcus.set_speeds(axis, accel_ms=100, decel_ms=100)
    return url


def test_study_leases_the_viewers_board_and_maps_the_field(tmp_path):
    url = _bench()
    viewer_board = AefiBoard.open(url)
    viewer_board.configure(BoardSettings())
    link = viewer_board.controller
    app = build_flyscan(arcus_url=url, board_url=url, out_dir=tmp_path)
    seen_lent = []
    app.service.observers.add(type("Spy", (), {"on_event": lambda self, e: seen_lent.append(
        viewer_board.controller is None)})())
    config = FlyScanConfig(fast_start_mm=26.0, fast_stop_mm=50.0, slow_start_mm=26.0, slow_stop_mm=38.0, lines=4,
                           points_per_line=25, speed_mm_s=32.7, trigger="continuous", detector="board")
    outcome = app.service.run_study(config)
    assert outcome.status.value == "completed", outcome.results.error
    assert any(seen_lent), "the viewer's link was lent during the study"
    # back with the viewer, the same open link
    assert viewer_board.controller is link and not link.is_lent
    assert viewer_board.measure(1).shape == (6,)
    gridded = outcome.results.map
    xx, yy = np.meshgrid(gridded.fast_axis_mm, gridded.slow_axis_mm)
    truth = _engine.field_map_volts(xx.ravel(), yy.ravel()).T.reshape(gridded.volts.shape)
    filled = gridded.counts > 0
    assert filled.mean() > 0.9
    for ch in range(6):
        err = gridded.volts[ch][filled] - truth[ch][filled]
        rms = np.sqrt(np.mean(err ** 2))
        assert rms <= 0.02 * np.ptp(truth[ch]), (ch, rms, np.ptp(truth[ch]))
    assert outcome.results.stats.get("rejected_samples") == 0
    viewer_board.close()


def test_viewer_grab_during_a_study_names_the_borrower():
    url = _bench()
    viewer_board = AefiBoard.open(url)
    from pymodaq_plugins_aefi.adapters.aefi_board import board_arbiter

    with board_arbiter(url).lease("flyscan scan_x"), pytest.raises(BoardBusyError, match="flyscan scan_x"):
        viewer_board.measure(1)
    viewer_board.close()
