"""Differential flyscans on the simulated bench: baseline lines flown with the excitation muted (the
board's DDS1/DDS2 gain registers only), interleaved with the excited ones, the excitation restored on
every ending; the map, the baseline and their difference on one grid, in the file too."""
import json

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.aefi_board import board_arbiter
from pymodaq_plugins_aefi.adapters.h5_repository import H5ResultsRepository, load_results
from pymodaq_plugins_aefi.adapters.rust_scan_adapter import RustScanAdapter, build_plan
from pymodaq_plugins_aefi.application.study_service import StudyService
from pymodaq_plugins_aefi.cli import flyscan
from pymodaq_plugins_aefi.domain import FlyScanConfig, FlyScanProgress, InvalidScanConfig, ScanStatus
from pymodaq_plugins_aefi.domain.quality import relative_rms_error
from pymodaq_plugins_aefi.domain.samples import SampleFlag
from pymodaq_plugins_aefi.testing.fakes import RecordingObserver

#: AD9106 register addresses (notes/aefi-legacy.md): gains DDS1..4, phases DDS1..4, tuning word, modes.
GAIN_DDS1, GAIN_DDS2 = 53, 52
PHASE_AND_FREQUENCY = {67, 66, 65, 64, 62, 63, 39, 38}
NOISE_V = 300e-6  # the simulated board's noise of one conversion (1 sigma)
OFFSET_V = 0.02
GRID = dict(fast_start_mm=20, fast_stop_mm=50, slow_start_mm=25, slow_stop_mm=45, points_per_line=31)


def config(**overrides):
    values = dict(GRID, lines=3, speed_mm_s=20, detector="board", trigger="continuous", differential=True,
                  seed=7)
    values.update(overrides)
    return FlyScanConfig(**values)


def truth_on(results):
    return flyscan.truth_map_on(results.config, results.map.fast_axis_mm, results.map.slow_axis_mm)


def run(name, cfg, observers=(), query="timing=wire"):
    """A differential scan on bench `name` through the adapter; returns (results, board URL)."""
    arcus, board = f"sim://{name}?{query}", f"sim://{name}?{query}"
    adapter = RustScanAdapter(arcus, board)
    service = StudyService(adapter, _memory(), [RecordingObserver(), *observers])
    for o in observers:
        o.service = service
    return service.run_study(cfg).results, board


def _memory():
    from pymodaq_plugins_aefi.adapters.flyscan_viewers import LastResultsRepository

    return LastResultsRepository()


def test_a_differential_plan_needs_the_board_and_a_sane_settle():
    with pytest.raises(InvalidScanConfig, match="board detector") as err:
        FlyScanConfig(**GRID, lines=2, speed_mm_s=20, differential=True)
    assert err.value.field == "differential"
    with pytest.raises(InvalidScanConfig) as err:
        config(excitation_settle_ms=-1)
    assert err.value.field == "excitation_settle_ms"
    plan = build_plan(config(excitation_settle_ms=80))
    assert plan["differential"] is True and plan["excitation_settle_ms"] == 80
    assert "differential" not in build_plan(config(differential=False))
    assert config().flights == 6 and config(differential=False).flights == 3


def test_the_board_simulator_mutes_by_gain_and_turns_with_the_phase():
    """The simulated board's registers act as the bench's: gain 0 leaves the noise (and the offset),
    a new DDS1 phase turns each in-phase/quadrature pair, the frequency word changes nothing here."""
    url = f"sim://diff-registers?timing=none&board_offset_uv={OFFSET_V * 1e6:g}"
    with _engine.ArcusController(url) as arcus, _engine.BoardController(url) as board:
        arcus.set_speeds("X", high_speed_pps=20_000)
        arcus.set_speeds("Y", high_speed_pps=20_000)
        arcus.move_abs("X", round(38.0 / 0.0218))  # on the sample's strongest feature
        arcus.move_abs("Y", round(32.0 / 0.0218))
        arcus.wait_idle()
        excited = np.mean([board.measure(127) for _ in range(8)], axis=0)
        board.configure(dds_gains=(0, 0, 10_000, 10_000))
        muted = np.mean([board.measure(127) for _ in range(8)], axis=0)
        board.configure(dds_phases=(16_384, 49_152, 16_384, 0))  # DDS1/DDS2 a quarter turn on, still 180° apart
        turned = np.mean([board.measure(127) for _ in range(8)], axis=0)
    sigma = NOISE_V / np.sqrt(127 * 8)
    np.testing.assert_allclose(muted, OFFSET_V, atol=6 * sigma)
    signal = excited - OFFSET_V
    assert np.abs(signal).max() > 100 * sigma, "the probe sits on a feature"
    # a quarter turn: (I, Q) → (−Q, I)
    expected = np.column_stack([-signal[1::2], signal[0::2]]).ravel() + OFFSET_V
    np.testing.assert_allclose(turned, expected, atol=6 * sigma)


def test_interleaved_baseline_lines_mute_only_the_gains_and_the_difference_removes_the_offset(tmp_path):
    cfg = config(excitation_settle_ms=200)
    results, board_url = run("diff-e2e", cfg, query=f"timing=wire&board_offset_uv={OFFSET_V * 1e6:g}")
    assert results.status is ScanStatus.COMPLETED, results.error
    assert results.lines_done == 3 and results.stats["flights"] == 6 and results.stats["lines"] == 3

    # only the gain registers of DDS1/DDS2 were written: 0 to mute, the gains back to unmute
    writes = _engine.sim_board_register_writes(board_url)
    assert {a for a, _ in writes} == {GAIN_DDS1, GAIN_DDS2}
    assert not PHASE_AND_FREQUENCY & {a for a, _ in writes}
    assert writes == [(GAIN_DDS1, 0), (GAIN_DDS2, 0), (GAIN_DDS1, 10_000), (GAIN_DDS2, 10_000)] * 3
    x = results.stats["excitation"]
    assert x["mutes"] == 3 and x["unmutes"] == 2 and x["restored"] is True and x["error"] is None

    # every baseline sample was taken with the excitation off, every excited one with it on (the
    # board's own truth: its noiseless volts are the field times the excitation)
    truth = _engine.sim_board_truth(board_url)
    t_mid = np.asarray(truth["t_mid_ns"])
    volts = np.asarray(truth["volts"])
    baseline, excited = results.baseline_raw, results.raw
    assert len(baseline) > 50 and len(excited) > 50
    assert baseline.has_flag(SampleFlag.BASELINE).all() and not excited.has_flag(SampleFlag.BASELINE).any()
    for samples, muted in ((baseline, True), (excited, False)):
        nearest = np.abs(t_mid[None, :] - samples.t_ns[:, None]).argmin(axis=1)
        off = np.all(volts[nearest] == 0.0, axis=1)
        assert off.all() if muted else not off.any()

    # interleaved: row k's baseline is flown after its excited line and before row k + 1's, over the
    # same span; the settle time passes between the last excited sample and the first baseline one
    for row in range(3):
        b, e = baseline.for_line(row), excited.for_line(row)
        assert e.t_ns.max() < b.t_ns.min()
        if row < 2:
            assert b.t_ns.max() < excited.for_line(row + 1).t_ns.min()
        assert (b.t_ns.min() - e.t_ns.max()) * 1e-6 >= cfg.excitation_settle_ms
        np.testing.assert_allclose(b.slow_mm, e.slow_mm[0], atol=0.05)

    # the baseline is the board's offset plus its noise; the difference is the field
    base = results.baseline_volts
    counts = results.baseline.counts
    assert counts.min() >= 1
    bound = 6 * NOISE_V / np.sqrt(counts)
    assert np.all(np.abs(base - OFFSET_V) <= bound[None, :, :])
    field = truth_on(results)
    map_error, diff_error = relative_rms_error(results.map.volts, field), relative_rms_error(
        results.difference_volts, field)
    print(f"\nmap RMS error vs the field {100 * map_error:.2f} %, excited − baseline {100 * diff_error:.2f} %")
    # the offset biases every cell of the excited map by itself: an RMS error of ~offset / range
    assert map_error > 0.8 * OFFSET_V / np.ptp(field) and diff_error < 0.005

    # the file holds the three maps on one grid, and reads back
    location = H5ResultsRepository(tmp_path, "scan.h5").save(results)
    back = load_results(location)
    np.testing.assert_array_equal(back.baseline_volts, results.baseline_volts)
    np.testing.assert_array_equal(back.difference_volts, results.difference_volts)
    np.testing.assert_array_equal(back.baseline_raw.t_ns, baseline.t_ns)
    from pymodaq_data.h5modules.data_saving import DataLoader

    with DataLoader(location) as loader:
        names = [loader.load_data(f"/RawData/Detector000/Data2D/CH{k:02d}/Data00").name for k in range(5)]
    assert names == ["map", "counts", "baseline", "difference", "baseline_counts"]


def test_a_scan_that_is_not_differential_saves_a_nan_baseline(tmp_path):
    results, board_url = run("diff-off", config(differential=False, lines=2, slow_stop_mm=35))
    assert results.status is ScanStatus.COMPLETED and results.baseline is None
    assert _engine.sim_board_register_writes(board_url) == [] and results.stats["excitation"] is None
    back = load_results(H5ResultsRepository(tmp_path, "scan.h5").save(results))
    assert back.baseline is None and np.isnan(back.baseline_volts).all() and np.isnan(back.difference_volts).all()


class _OnMute:
    """Does `action(url)` once, while a baseline line flies (the board muted)."""

    def __init__(self, board_url, action):
        self.board_url, self.action, self.done, self.service = board_url, action, False, None

    def on_event(self, event):
        if self.done or not isinstance(event, FlyScanProgress) or event.state != "flying":
            return
        writes = _engine.sim_board_register_writes(self.board_url)
        if writes and writes[-1] == (GAIN_DDS2, 0):
            self.done = True
            self.action(self)


def test_an_abort_on_a_baseline_line_restores_the_excitation():
    url = "sim://diff-abort?timing=wire"
    observer = _OnMute(url, lambda o: o.service.abort())
    results, _ = run("diff-abort", config(lines=3), [observer])
    assert observer.done and results.status is ScanStatus.ABORTED
    writes = _engine.sim_board_register_writes(url)
    assert writes[-2:] == [(GAIN_DDS1, 10_000), (GAIN_DDS2, 10_000)]
    assert results.stats["excitation"]["restored"] is True
    assert {a for a, _ in writes} == {GAIN_DDS1, GAIN_DDS2}


def test_a_fault_on_a_baseline_line_restores_the_excitation():
    """The Arcus link lost mid baseline line: the scan fails, the board (still there) is unmuted."""
    url = "sim://diff-fault?timing=wire"
    observer = _OnMute(url, lambda o: _engine.sim_inject_fault(url, "disconnect"))
    try:
        results, _ = run("diff-fault", config(lines=3), [observer])
    finally:
        _engine.sim_inject_fault(url, "reconnect")
    assert observer.done and results.status is ScanStatus.FAILED
    assert _engine.sim_board_register_writes(url)[-2:] == [(GAIN_DDS1, 10_000), (GAIN_DDS2, 10_000)]
    assert results.stats["excitation"]["restored"] is True


def test_an_unplugged_board_says_the_excitation_could_not_be_restored():
    url = "sim://diff-unplug?timing=wire"
    observer = _OnMute(url, lambda o: _engine.sim_board_fault(url, "unplug"))
    try:
        results, _ = run("diff-unplug", config(lines=3), [observer])
    finally:
        _engine.sim_board_fault(url, "clear")
    assert observer.done and results.status is ScanStatus.FAILED
    x = results.stats["excitation"]
    assert x["restored"] is False and "gains back" in x["error"]
    assert board_arbiter(url).borrower is None


def test_cli_differential_writes_the_three_maps_and_the_figures(tmp_path, capsys):
    url = f"sim://diff-cli?baud=9600&timing=wire&board_offset_uv={OFFSET_V * 1e6:g}&board_drift_uv_per_s=500"
    code = flyscan.main(["--out", str(tmp_path), "--port", url, "--differential", "--lines", "2",
                         "--points-per-line", "31", "--fast-start-mm", "20", "--fast-stop-mm", "50",
                         "--slow-start-mm", "25", "--slow-stop-mm", "45", "--seed", "3", "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    stats = json.loads((tmp_path / "stats.json").read_text())
    d = stats["differential"]
    assert d["flights"] == 4 and d["excitation"]["restored"] is True and d["excitation_settle_ms"] == 50
    back = load_results(tmp_path / "scan.h5")
    # the offset and a drift of 0.5 mV/s: interleaving subtracts a baseline a line's time younger
    span = np.ptp(truth_on(back))
    assert d["map_rms_error_rel"] > 0.8 * OFFSET_V / span and d["difference_rms_error_rel"] < 0.005
    assert all(v > OFFSET_V for v in d["baseline_mean_volts"].values())
    assert "differential: 4 lines flown for 2 map lines" in out.out
    assert back.baseline is not None and np.isfinite(back.difference_volts).any()
    assert (tmp_path / "map.png").stat().st_size > 10_000


def test_sigterm_on_a_baseline_line_restores_the_excitation(tmp_path, capsys):
    """aefi-flyscan stopped by a signal while the board is muted: exit 143, the gains back."""
    import os
    import signal
    import threading
    import time

    url = "sim://diff-signal?baud=9600&timing=wire"
    board_url = flyscan.simulated_board_url(url)
    stop = threading.Event()

    def signal_on_mute():
        while not stop.is_set():
            try:
                writes = _engine.sim_board_register_writes(board_url)
            except Exception:  # the bench is created by the scan
                writes = []
            if writes and writes[-1] == (GAIN_DDS2, 0):
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=signal_on_mute)
    watcher.start()
    try:
        code = flyscan.main(["--out", str(tmp_path), "--port", url, "--differential", "--lines", "3",
                             "--points-per-line", "31", "--fast-start-mm", "20", "--fast-stop-mm", "50",
                             "--slow-start-mm", "25", "--slow-stop-mm", "45", "--no-progress"])
    finally:
        stop.set()
        watcher.join()
    out = capsys.readouterr()
    assert code == 128 + signal.SIGTERM, out.err
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["status"] == "aborted"
    x = stats["differential"]["excitation"]
    assert x["mutes"] >= 1 and x["restored"] is True
    assert _engine.sim_board_register_writes(board_url)[-2:] == [(GAIN_DDS1, 10_000), (GAIN_DDS2, 10_000)]
    assert stats["axis_speeds"]["restored"] is True


def test_the_gains_written_back_are_the_configured_ones(tmp_path, capsys):
    """The board cannot be read back: an unmute writes the configured words (--excitation-gains, else
    [board] excitation_gains), checked before anything moves."""
    from pymodaq_plugins_aefi.bootstrap import bench_excitation_gains

    assert bench_excitation_gains() == (10_000, 10_000)
    url = "sim://diff-gains?timing=wire"
    args = ["--out", str(tmp_path), "--port", url, "--differential", "--lines", "1", "--points-per-line", "11",
            "--fast-start-mm", "20", "--fast-stop-mm", "30", "--slow-start-mm", "30", "--slow-stop-mm", "30",
            "--no-progress"]
    assert flyscan.main([*args, "--excitation-gains", "5500,20000"]) == flyscan.EXIT_BAD_INPUT
    assert "--excitation-gains" in capsys.readouterr().err
    assert flyscan.main([*args, "--excitation-gains", "5500,5400"]) == 0, capsys.readouterr().err
    board_url = flyscan.simulated_board_url(url)
    assert _engine.sim_board_register_writes(board_url) == [(GAIN_DDS1, 0), (GAIN_DDS2, 0), (GAIN_DDS1, 5500),
                                                            (GAIN_DDS2, 5400)]
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["differential"]["excitation"]["gains"] == [5500, 5400]
