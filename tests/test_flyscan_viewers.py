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


def figure(dte, name):
    """One of the line's figures (the "line figures" 0D group)."""
    figures = dte.get_data_from_name("line figures")
    return float(figures.data[figures.labels.index(name)][0])


def statuses(plugin):
    """The status-bar messages the plugin emits from now on."""
    seen = []
    plugin.emit_status = lambda command: seen.append(str(command.attribute))
    return seen


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
    figures = dte.get_data_from_name("line figures")
    # one view per grab: the figures are saved with the line but get no dock of their own
    assert figures.dim.name == "Data0D" and figures.do_plot is False
    assert [dwa.name for dwa in dte if getattr(dwa, "do_plot", True)] == ["AEFI line"]
    assert figure(dte, "samples") > 41
    assert 20.0 / 20.0 * 0.9 < figure(dte, "duration (s)") < 20.0 / 20.0 * 1.1  # 20 mm at 20 mm/s
    assert figure(dte, "mean speed (mm/s)") == pytest.approx(20.0, rel=0.05)
    assert figure(dte, "grid filled (%)") == 100.0
    assert dte.get_data_from_name("raw samples") is None  # off by default: DAQ_Scan stacks fixed shapes
    plugin.close()


def test_1d_raw_samples_when_asked(url):
    plugin = detector_1d(url, raw=True)
    dte = grab_and_wait(plugin, timeout_ms=20000)
    raw, positions = dte.get_data_from_name("raw samples"), dte.get_data_from_name("raw positions")
    n = int(figure(dte, "samples"))
    assert raw.shape == (n,) and len(raw) == 6 and positions.units == "mm"
    assert positions.data[0].min() >= 10.0 - 1e-9 and positions.data[0].max() <= 30.0 + 1e-9
    plugin.close()


def test_bad_request_is_refused_with_the_parameter_named_and_still_ends_the_grab(url):
    plugin = detector_1d(url)
    seen = statuses(plugin)
    plugin.settings.child("speed_mm_s").setValue(5000.0)
    dte = grab_and_wait(plugin, timeout_ms=5000)
    assert any("speed_mm_s" in s for s in seen), seen
    line = dte.get_data_from_name("AEFI line")
    assert line.shape == (41,) and np.isnan(np.array(line.data)).all()
    plugin.close()


def test_a_plan_the_engine_refuses_ends_the_grab_with_nan_and_the_nearest_valid_value(url, caplog):
    """fast_start_mm = 0 passes the domain's checks; the engine refuses the run-up below the travel."""
    plugin = detector_1d(url, fast_start_mm=0.0)
    seen = statuses(plugin)
    with caplog.at_level("WARNING"):
        dte = grab_and_wait(plugin, timeout_ms=5000)  # before: nothing was emitted, Snap waited forever
    line = dte.get_data_from_name("AEFI line")
    assert line.shape == (41,) and np.isnan(np.array(line.data)).all()
    np.testing.assert_allclose(line.axes[0].get_data(), np.linspace(0.0, 30.0, 41))
    assert np.isnan(figure(dte, "samples"))
    # 20 mm/s is flown at 917 pps; with the configured LS 10 pps and 300 ms ramps the run-up is
    # (10 + 917)/2 × 0.3 + 917 × 0.02 + 2 = 159.4 → 160 steps = 3.488 mm, offered rounded up
    message = next(s for s in seen if "grab failed" in s)
    assert "fast_start_mm: must be ≥ 3.49 mm (160 steps at 21.8 µm/step) with the run-up at 19.99 mm/s (917 pps)" \
        in message, message
    assert plugin.settings["progress"] == "failed"
    assert any("grab failed" in r.getMessage() and "fast_start_mm" in r.getMessage() for r in caplog.records
               if r.levelname == "WARNING")
    plugin.close()


RASTER = dict(LINE, slow_start_mm=5.0, slow_stop_mm=25.0, lines=6, points_per_line=21)


def detector_2d(url, **settings):
    plugin = make_detector(fly2d.DAQ_2DViewer_AEFIFlyscan, url=url, **{**RASTER, **settings})
    assert plugin.initialized, plugin.init_info
    return plugin


def test_2d_grab_gives_the_map_with_both_axes_in_mm_and_live_rows(url):
    plugin = detector_2d(url)
    assert plugin.settings["map_channels"] == "z_in_phase"  # one channel: a map with a colour scale, not RGB
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
    assert image.labels == ["z_in_phase"] and len(image) == 1
    expected = _engine.field_map_volts(xx.ravel(), yy.ravel())[:, 4].reshape(6, 21)
    np.testing.assert_allclose(image.data[0][:, 1:-1], expected[:, 1:-1], atol=5e-3 * np.abs(expected).max())
    assert len(live) == 6  # one live update per line
    assert np.isnan(live[0].get_data_from_name("AEFI map").data[0][1:]).all()
    plugin.close()


def test_2d_grab_with_the_simulated_daq_started_by_syn(url):
    plugin = detector_2d(url, detector="daqmx_sim", sample_rate_hz=5000.0, lines=3)
    plugin.settings.child("daqmx", "daq_start_trigger").setValue("syn")
    plugin.settings.child("daqmx", "daq_channels").setValue("Dev1/ai0:5")
    dte = grab_and_wait(plugin, timeout_ms=30000)
    image = dte.get_data_from_name("AEFI map")
    slow, fast = sorted(image.axes, key=lambda a: a.index)
    xx, yy = np.meshgrid(fast.get_data(), slow.get_data())
    expected = _engine.field_map_volts(xx.ravel(), yy.ravel())[:, 4].reshape(3, 21)
    # ~250 samples a 1 mm cell, each at its exact instant from the line's SYN edge
    np.testing.assert_allclose(image.data[0][:, 1:-1], expected[:, 1:-1], atol=1e-2 * np.ptp(expected))
    plugin.close()


def test_daq_settings_reach_the_request():
    from pymodaq_plugins_aefi.adapters.flyscan_viewers import flyscan_request
    from pymodaq_plugins_aefi.domain.config import FlyScanConfig

    plugin = fly2d.DAQ_2DViewer_AEFIFlyscan(None, None)
    plugin.settings.child("detector").setValue("daqmx")
    plugin.settings.child("daqmx", "daq_channels").setValue("Dev2/ai0:2")
    plugin.settings.child("daqmx", "daq_range_v").setValue(5.0)
    plugin.settings.child("daqmx", "daq_start_trigger").setValue("software")
    request = flyscan_request(plugin.settings, raster=True)
    assert request["trigger"] == "hardware"
    config = FlyScanConfig(**request)
    assert (config.daq_channels, config.daq_range_v, config.daq_start_trigger, config.daq_trigger_source) == (
        "Dev2/ai0:2", 5.0, "software", "/Dev1/PFI0")


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


def test_every_axis_shows_where_the_flyscan_left_it_when_the_link_returns(url, qtbot):
    """Before: the axes kept showing 0 mm after a flyscan until the user turned refresh on."""
    from pymodaq.control_modules.thread_commands import ControllerStatus

    axes = {}
    for name in ("X", "Y"):
        move = DAQ_Move_AEFI()
        move.settings.child("url").setValue(url)
        move.settings.child("controller", "axis").setValue(name)
        if name == "Y":
            move.settings.child("controller", "controller_status").setValue(ControllerStatus.SLAVE)
        move.init_info, move.initialized = move.ini_stage(axes["X"][0].controller if name == "Y" else None)
        assert move.initialized, move.init_info
        shown = []
        move.emit_status = lambda command, shown=shown: shown.append(command)
        axes[name] = (move, shown)
    stage = axes["X"][0].controller
    assert axes["Y"][0].controller is stage

    def shown_mm(name):
        return [c.attribute.value() for c in axes[name][1] if c.command == "get_actuator_value"]

    plugin = detector_2d(url, lines=2)
    grab_and_wait(plugin, timeout_ms=30000)
    qtbot.waitUntil(lambda: bool(shown_mm("X") and shown_mm("Y")), timeout=5000)
    truth = {name: stage.position_mm(name) for name in ("X", "Y")}
    # serpentine: line 1 flies back and stops at its run-out below fast_start (10 mm); Y is on the last line
    assert truth["X"] < 10.0 and abs(truth["Y"] - 25.0) <= STEP_MM
    assert shown_mm("X")[-1] == pytest.approx(truth["X"]) and shown_mm("Y")[-1] == pytest.approx(truth["Y"])
    plugin.close()
    for move, _ in axes.values():
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
        # the grab still ends, with a NaN line, so that Snap or a DAQ_Scan step does not wait for its timeout
        assert len(data) == 1 and np.isnan(np.array(data[0].get_data_from_name("AEFI line").data)).all()
        assert plugin.settings["progress"] == "failed" and not plugin.controller.running
        plugin.close()
    finally:
        for process in (holder, sim):
            if process is not None:
                with process:  # closes the pipe
                    process.terminate()
                    process.wait(10)


def _assert_left_clean(url, out_dir):
    """After a close mid-scan: the fast axis still, the link free for anyone, the rows flown saved
    (every sample the engine acquired) in a file marked aborted and partial."""
    from pymodaq_plugins_aefi.adapters.h5_repository import load_results

    t = _engine.now_ns()
    still = _engine.sim_truth(url, "X", np.array([t, t + 100_000_000], dtype=np.int64))
    assert still[0] == still[1]  # the fast axis is not flying on after the viewer is gone
    assert PortArbiter.for_url(url, _engine.ArcusController).borrower is None
    with _engine.ArcusController(url) as arcus:  # PortBusyError if the scan still held the link
        assert not arcus.is_moving()
    files = sorted(out_dir.glob("*.h5"))
    assert len(files) == 1, files
    saved = load_results(files[0])
    assert saved.status.value == "aborted" and saved.partial
    assert 0 < saved.samples == saved.stats["samples"]
    assert 1 <= saved.lines_done < len(saved.lines)


def test_closing_the_viewer_mid_scan_stops_the_motors_frees_the_port_and_saves_the_rows(url, tmp_path):
    """What closing the viewer does mid-scan: `close()` aborts, waits for the end; the study saves."""
    from qtpy import QtWidgets

    from daq_scan_helpers import process_until

    plugin = detector_2d(url, lines=40, save_dir=str(tmp_path))
    rows = []
    closed = []

    def close_after_the_first_row(dte):
        rows.append(dte)
        if len(rows) == 1 and not closed:
            closed.append(True)
            plugin.close()

    plugin.dte_signal_temp.connect(close_after_the_first_row)
    plugin.grab_data()
    process_until(lambda: closed, 60, "the first row")
    QtWidgets.QApplication.processEvents()
    assert plugin.controller is None
    _assert_left_clean(url, tmp_path)


def test_the_detector_lag_setting_reaches_the_request_and_a_bad_one_is_refused_by_name(url):
    from pymodaq_plugins_aefi.adapters.flyscan_viewers import flyscan_request

    plugin = detector_1d(url)
    lag = plugin.settings.child("detector_lag_ms")
    assert lag.value() == "auto"  # the shipped default: measured where a raster allows it
    assert flyscan_request(plugin.settings, raster=False, slow_position_mm=20.0)["detector_lag_ms"] is None
    lag.setValue(" 7.5 ")
    assert flyscan_request(plugin.settings, raster=False, slow_position_mm=20.0)["detector_lag_ms"] == 7.5
    seen = statuses(plugin)
    lag.setValue("soon")
    dte = grab_and_wait(plugin, timeout_ms=5000)
    assert any("detector_lag_ms" in s for s in seen), seen
    assert np.isnan(np.array(dte.get_data_from_name("AEFI line").data)).all()
    plugin.close()
