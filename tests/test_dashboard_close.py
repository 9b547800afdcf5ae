"""Closing the PyMoDAQ Dashboard while its flyscan map is mid-raster (headless, the shipped preset):
the Dashboard closes its modules, the viewer's close aborts the scan, and afterwards the fast axis is
still, the Arcus link is free, and the rows flown are saved (every sample acquired), aborted, partial."""
import numpy as np
import pytest

from daq_scan_helpers import headless_dashboard, load_preset, process_until
from pymodaq_plugins_aefi import _engine

pytestmark = pytest.mark.gui


def _lines_done(progress: str) -> int:
    """Lines done in the viewer's progress text ("flying: line 2/16, 1234 samples, 5.0 s")."""
    if not progress.startswith("flying: line "):
        return 0
    return int(progress.removeprefix("flying: line ").split("/")[0])


def test_closing_the_dashboard_mid_scan_stops_the_motors_frees_the_port_and_saves_the_rows(tmp_path):
    from pymodaq_plugins_aefi.adapters.h5_repository import load_results

    with headless_dashboard("close-mid-scan") as dashboard:
        viewer = load_preset(dashboard)["Flyscan map"]
        settings = viewer.settings.child("detector_settings")
        settings.child("save_dir").setValue(str(tmp_path))
        url = settings["url"]
        lines_total = settings["lines"]
        viewer.snap()
        process_until(lambda: _lines_done(settings["progress"]) >= 1, 120, "the first row of the raster")
    # the Dashboard has quit: its modules closed their plugins, each close aborted and awaited the scan
    files = sorted(tmp_path.glob("*.h5"))
    assert len(files) == 1, files
    saved = load_results(files[0])
    assert saved.status.value == "aborted" and saved.partial
    assert 0 < saved.samples == saved.stats["samples"]
    assert 1 <= saved.lines_done < lines_total

    t = _engine.now_ns()
    still = _engine.sim_truth(url, "X", np.array([t, t + 100_000_000], dtype=np.int64))
    assert still[0] == still[1]  # the fast axis is not flying on after the Dashboard is gone
    with _engine.ArcusController(url) as arcus:  # PortBusyError if anything still held the link
        assert not arcus.is_moving()
