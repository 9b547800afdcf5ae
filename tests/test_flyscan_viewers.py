"""The flyscan viewers driven like the Dashboard does (PyMoDAQ's harness), end to end: the Rust
engine flies the in-process Arcus simulator (`sim://NAME?timing=none`: timed motion, immediate
replies) with the virtual probe reading the simulator's known field at the true probe position.
"""
import itertools

import numpy as np
import pytest
from pymodaq.utils.plugin_testing import grab_and_wait, make_detector, move_abs_and_wait, wait_for_signal

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.port_arbiter import PortArbiter
from pymodaq_plugins_aefi.daq_move_plugins.daq_move_AEFI import DAQ_Move_AEFI
from pymodaq_plugins_aefi.daq_viewer_plugins.plugins_1D import daq_1Dviewer_AEFIFlyscan as fly1d
from pymodaq_plugins_aefi.daq_viewer_plugins.plugins_2D import daq_2Dviewer_AEFIFlyscan as fly2d
from pymodaq_plugins_aefi.domain.measurement import CHANNEL_NAMES

pytestmark = pytest.mark.gui
_BENCHES = itertools.count()
STEP_MM = 0.0218


@pytest.fixture
def url():
    return f"sim://viewer{next(_BENCHES)}?timing=none"


# 20 mm/s stays under the simulator's factory high speed (1000 pulses/s = 21.8 mm/s)
LINE = dict(fast_start_mm=10.0, fast_stop_mm=30.0, points_per_line=41, speed_mm_s=20.0, sample_rate_hz=2000.0)


def detector_1d(url, **settings):
    plugin = make_detector(fly1d.DAQ_1DViewer_AEFIFlyscan, url=url, **{**LINE, **settings})
    assert plugin.initialized, plugin.init_info
    return plugin


def test_1d_grab_gives_a_line_on_a_regular_mm_grid(url):
    with _engine.ArcusController(url) as controller:
        controller.set_position("Y", round(25.0 / STEP_MM))
    plugin = detector_1d(url)
    dte = grab_and_wait(plugin, timeout_ms=20000)
    line = dte.get_data_from_name("AEFI line")
    assert line.dim.name == "Data1D" and line.units == "V" and line.labels == list(CHANNEL_NAMES)
    assert len(line) == 6 and line.shape == (41,)
    axis = line.axes[0]
    assert axis.units == "mm"
    np.testing.assert_allclose(axis.get_data(), np.linspace(10.0, 30.0, 41))
    y_mm = round(25.0 / STEP_MM) * STEP_MM
    expected = _engine.field_map_volts(np.linspace(10.0, 30.0, 41), np.full(41, y_mm))
    # each cell averages the samples that fell in it; the edge cells are half cells, hence the interior only
    np.testing.assert_allclose(np.array(line.data)[:, 1:-1], expected.T[:, 1:-1], atol=2e-3 * np.abs(expected).max())
    assert dte.get_data_from_name("samples").data[0][0] > 41
    assert dte.get_data_from_name("line duration").units == "s"
    assert dte.get_data_from_name("raw samples") is None  # off by default: DAQ_Scan stacks fixed shapes
    plugin.close()


def test_1d_raw_samples_when_asked(url):
    plugin = detector_1d(url, raw=True)
    dte = grab_and_wait(plugin, timeout_ms=20000)
    raw, positions = dte.get_data_from_name("raw samples"), dte.get_data_from_name("raw positions")
    n = int(dte.get_data_from_name("samples").data[0][0])
    assert raw.shape == (n,) and len(raw) == 6 and positions.units == "mm"
    assert positions.data[0].min() >= 10.0 - 1e-9 and positions.data[0].max() <= 30.0 + 1e-9
    plugin.close()


def test_bad_request_is_refused_with_the_parameter_named(url):
    plugin = detector_1d(url)
    seen = []
    plugin.emit_status = lambda command: seen.append(str(command.attribute))
    plugin.settings.child("speed_mm_s").setValue(5000.0)
    plugin.grab_data()
    assert any("speed_mm_s" in s for s in seen), seen
    plugin.close()


RASTER = dict(LINE, slow_start_mm=5.0, slow_stop_mm=25.0, lines=6, points_per_line=21)


def detector_2d(url, **settings):
    plugin = make_detector(fly2d.DAQ_2DViewer_AEFIFlyscan, url=url, **{**RASTER, **settings})
    assert plugin.initialized, plugin.init_info
    return plugin


def test_2d_grab_gives_the_map_with_both_axes_in_mm_and_live_rows(url):
    plugin = detector_2d(url, map_channels="x_in_phase")
    live = []
    plugin.dte_signal_temp.connect(live.append)
    dte = grab_and_wait(plugin, timeout_ms=30000)
    image = dte.get_data_from_name("AEFI map")
    assert image.dim.name == "Data2D" and image.shape == (6, 21) and image.units == "V"
    slow, fast = sorted(image.axes, key=lambda a: a.index)
    assert (slow.units, fast.units) == ("mm", "mm")
    np.testing.assert_allclose(slow.get_data(), np.linspace(5.0, 25.0, 6))
    np.testing.assert_allclose(fast.get_data(), np.linspace(10.0, 30.0, 21))
    xx, yy = np.meshgrid(fast.get_data(), slow.get_data())
    expected = _engine.field_map_volts(xx.ravel(), yy.ravel())[:, 0].reshape(6, 21)
    np.testing.assert_allclose(image.data[0][:, 1:-1], expected[:, 1:-1], atol=5e-3 * np.abs(expected).max())
    assert len(live) == 6  # one live update per line
    assert np.isnan(live[0].get_data_from_name("AEFI map").data[0][1:]).all()
    plugin.close()


def test_2d_stop_mid_grab_emits_the_partial_map(url):
    plugin = detector_2d(url, lines=40)
    rows = []

    def stop_after_two_rows(dte):
        rows.append(dte)
        if len(rows) == 2:
            plugin.stop()

    plugin.dte_signal_temp.connect(stop_after_two_rows)
    dte = grab_and_wait(plugin, timeout_ms=30000)
    image = dte.get_data_from_name("AEFI map").data[0]
    flown = np.isfinite(image).all(axis=1)
    assert 2 <= flown.sum() < 40 and not flown[-1]
    assert "aborted" in plugin.settings["progress"]
    plugin.close()


def test_1d_stop_mid_grab(url):
    plugin = detector_1d(url, fast_stop_mm=200.0, speed_mm_s=20.0)
    dte = wait_for_signal(plugin.dte_signal, lambda: (plugin.grab_data(), plugin.stop()), timeout_ms=20000)
    assert plugin.settings["progress"].startswith("aborted")
    assert dte.get_data_from_name("AEFI line").shape == (41,)
    plugin.close()


def test_move_plugin_still_works_after_a_grab_and_lends_the_link_during_it(url):
    move = DAQ_Move_AEFI()
    move.settings.child("url").setValue(url)
    move.settings.child("speeds", "high_mm_s").setValue(100.0)
    move.init_info, move.initialized = move.ini_stage()
    assert move.initialized, move.init_info
    move_abs_and_wait(move, 3.0)
    arbiter = PortArbiter.for_url(url, _engine.ArcusController)
    plugin = detector_1d(url)
    stage, lease = move.controller, []
    release, restore = stage.release_link, stage.restore_link
    stage.release_link = lambda: lease.append("released") or release()
    stage.restore_link = lambda link: lease.append("restored") or restore(link)
    grab_and_wait(plugin, timeout_ms=20000)
    assert lease == ["released", "restored"] and arbiter.holder is stage
    assert not move.controller.is_lent and arbiter.borrower is None
    position = move_abs_and_wait(move, 4.0)
    assert abs(position.value() - 4.0) <= STEP_MM
    plugin.close()
    move.close()


def test_grab_when_another_process_holds_the_port_is_a_clear_error(tmp_path):
    """A real serial link (the simulator on a PTY), opened exclusively by another process mid-session."""
    import subprocess
    import sys
    from pathlib import Path

    bindir = Path(sys.executable).parent
    sim = subprocess.Popen([str(bindir / "aefi-arcus-sim"), "--pty"], stdout=subprocess.PIPE, text=True)
    holder = None
    try:
        url = f"serial://{sim.stdout.readline().strip()}"
        plugin = detector_1d(url)  # the port is free: init opens it briefly and lets it go
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys, time\nfrom pymodaq_plugins_aefi import _engine\n"
             f"c = _engine.ArcusController({url!r})\nprint('held', flush=True)\ntime.sleep(60)"],
            stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "held"
        seen, data = [], []
        plugin.emit_status = lambda command: seen.append(str(command.attribute))
        plugin.dte_signal.connect(data.append)
        plugin.grab_data()
        assert any("grab failed" in s and "PortBusyError" in s for s in seen), seen
        assert data == [] and plugin.settings["progress"] == "failed" and not plugin.controller.running
        plugin.close()
    finally:
        for process in (holder, sim):
            if process is not None:
                with process:  # closes the pipe
                    process.terminate()
                    process.wait(10)
