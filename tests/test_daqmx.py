"""The NI-DAQmx detector: its config, the missing runtime, the simulated DAQ's task, and flyscans
with the simulated DAQ started by SYN and by software, checked against the simulator's truth."""
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.daq_sim import SimulatedDaq
from pymodaq_plugins_aefi.adapters.daq_tasks import (
    RUNTIME_MISSING,
    AiTaskSpec,
    DaqOverrunError,
    DaqRuntimeMissing,
    check_daqmx_runtime,
    daqmx_devices,
    import_daqmxni,
)
from pymodaq_plugins_aefi.adapters.daqmx_detector import line_geometry, line_task_spec
from pymodaq_plugins_aefi.adapters.h5_repository import load_results
from pymodaq_plugins_aefi.adapters.rust_scan_adapter import build_plan
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.cli.bench_daq import bench_url, daq_config, daq_figures
from pymodaq_plugins_aefi.domain.config import FlyScanConfig, expand_ai_channels
from pymodaq_plugins_aefi.domain.errors import InvalidScanConfig

STEP_MM = 0.0218
_BENCHES = itertools.count()


def _runtime_present() -> bool:
    try:
        check_daqmx_runtime()
    except DaqRuntimeMissing:
        return False
    return True


no_runtime = pytest.mark.skipif(_runtime_present(), reason="the NI-DAQmx runtime is installed here")


def _sim_bench(timing: str = "none") -> str:
    url = f"sim://daqmx-{next(_BENCHES)}?timing={timing}"
    with _engine.ArcusController(url) as arcus:
        arcus.query("HS=1500")
        arcus.query("LS=10")
        arcus.set_speeds("X", accel_ms=100, decel_ms=100)
    return url


def _truth_volts(url: str, t_ns: np.ndarray) -> np.ndarray:
    x_mm, y_mm = _engine.sim_truth(url, "X", t_ns) * STEP_MM, _engine.sim_truth(url, "Y", t_ns) * STEP_MM
    return _engine.field_map_volts(x_mm, y_mm)


def _read_all(task, n: int) -> np.ndarray:
    blocks = []
    while task.samples_read < n:
        blocks.append(task.read(n, 5.0))
    return np.vstack(blocks)


# ---- config -------------------------------------------------------------------------------------
def test_channel_ranges_expand_like_daqmx():
    assert expand_ai_channels("Dev1/ai0:5") == [f"Dev1/ai{k}" for k in range(6)]
    assert expand_ai_channels("Dev1/ai3, Dev2/ai1:0") == ["Dev1/ai3", "Dev2/ai1", "Dev2/ai0"]
    with pytest.raises(InvalidScanConfig) as err:
        expand_ai_channels("ai0:5")
    assert err.value.field == "daq_channels"


def _daq(**kw) -> FlyScanConfig:
    values = dict(fast_start_mm=20.0, fast_stop_mm=30.0, slow_start_mm=20.0, slow_stop_mm=22.0, lines=2,
                  points_per_line=11, speed_mm_s=20.0, sample_rate_hz=10_000.0, detector="daqmx_sim",
                  trigger="hardware")
    return FlyScanConfig(**(values | kw))


def test_daq_config_refuses_what_the_task_cannot_do():
    for kw, field in ((dict(trigger="software"), "trigger"), (dict(daq_channels="Dev1/ai0:6"), "daq_channels"),
                      (dict(daq_range_v=20.0), "daq_range_v"), (dict(daq_start_trigger="pfi"), "daq_start_trigger"),
                      (dict(daq_trigger_source=" "), "daq_trigger_source")):
        with pytest.raises(InvalidScanConfig) as err:
            _daq(**kw)
        assert err.value.field == field, kw
    config = _daq()
    assert FlyScanConfig.from_dict(config.to_dict()) == config
    assert build_plan(config)["detector"] == "external" and build_plan(config)["trigger"] == "hardware"


def test_a_syn_started_line_holds_one_sample_per_clock_tick_from_the_first_grid_point_to_the_last():
    config = _daq(pattern="serpentine")
    plan = build_plan(config)
    first, second = line_geometry(config, plan, 0), line_geometry(config, plan, 1)
    assert first.first_steps == plan["fast_start_steps"] and second.first_steps == plan["fast_stop_steps"]
    spec = line_task_spec(config, first)
    span_s = abs(plan["fast_stop_steps"] - plan["fast_start_steps"]) / plan["speed_pps"]
    assert spec.n_samples == int(np.floor(span_s * 10_000)) + 1
    assert spec.start == "syn" and spec.trigger_source == "/Dev1/PFI0" and len(spec.channels) == 6
    assert line_task_spec(replace_start(config), first).n_samples > spec.n_samples  # software: run-up too
    # a raster flown from high to low positions starts at fast_start too
    backwards = _daq(fast_start_mm=30.0, fast_stop_mm=20.0)
    plan = build_plan(backwards)
    assert [line_geometry(backwards, plan, k).first_steps for k in (0, 1)] == [plan["fast_start_steps"],
                                                                               plan["fast_stop_steps"]]


def replace_start(config: FlyScanConfig) -> FlyScanConfig:
    return FlyScanConfig.from_dict(config.to_dict() | {"daq_start_trigger": "software"})


# ---- no NI runtime ------------------------------------------------------------------------------
@no_runtime
def test_without_the_runtime_the_packages_import_and_list_nothing():
    daqmxni = import_daqmxni()
    assert daqmxni.AIChannel(name="Dev1/ai0").value_max == 10.0  # its channel objects need no runtime
    assert daqmx_devices() == []
    with pytest.raises(DaqRuntimeMissing, match="NI-DAQmx runtime not found: install it from NI; "
                                                 "the simulated DAQ is daqmx_sim"):
        check_daqmx_runtime()


@no_runtime
def test_without_the_runtime_choosing_daqmx_refuses_before_anything_moves(tmp_path):
    url = _sim_bench()
    app = build_flyscan(url, out_dir=tmp_path, realtime=False)
    with pytest.raises(DaqRuntimeMissing) as err:
        app.service.run_study(_daq(detector="daqmx"))
    assert str(err.value) == RUNTIME_MISSING
    with _engine.ArcusController(url) as arcus:  # the link went back, and nothing moved
        assert arcus.positions() == {"X": 0, "Y": 0, "Z": 0, "U": 0}


@no_runtime
def test_aefi_flyscan_daqmx_says_the_runtime_is_missing_in_one_line(tmp_path):
    cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(tmp_path), "--no-progress",
           "--port", "sim://cli-daqmx?timing=none", "--detector", "daqmx", "--daqmx-channels", "Dev1/ai0:5",
           "--daqmx-rate-hz", "10000", "--start-trigger", "syn"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert stderr.strip().splitlines() == [f"aefi-flyscan: {RUNTIME_MISSING}"]
    assert not (tmp_path / "scan.h5").exists()


# ---- the simulated DAQ's task -------------------------------------------------------------------
def _spec(start: str, n: int, buffer_samples: int = 0, channels: str = "Dev1/ai0:5") -> AiTaskSpec:
    spec = AiTaskSpec.of(channels, 10.0, 10_000.0, n, start, "/Dev1/PFI0")
    return AiTaskSpec(**(spec.__dict__ | {"buffer_samples": buffer_samples}))


def test_software_start_reads_the_field_at_the_true_position_of_every_clock_tick():
    url = _sim_bench()
    daq = SimulatedDaq(url)
    with _engine.ArcusController(url) as arcus:
        arcus.move_abs("X", 1500)
        task = daq.make(_spec("software", 300, channels="Dev1/ai0:3"), line=0)
        stamp = _engine.now_ns()
        task.start()
        volts = _read_all(task, 300)
        task.close()
    t0 = daq.truth.starts[0]
    assert t0 > stamp  # the clock starts after the caller's stamp: the software start is late
    t = t0 + np.round(np.arange(300) * 1e5).astype(np.int64)
    assert volts.shape == (300, 4)
    np.testing.assert_allclose(volts, _truth_volts(url, t)[:, :4], rtol=0, atol=1e-12)
    assert np.ptp(_engine.sim_truth(url, "X", t)) > 1  # the probe moved while sampled
    assert task.start_instant_ns() is None


def test_syn_start_begins_on_the_simulated_syn_edge():
    url = _sim_bench()
    daq = SimulatedDaq(url)
    with _engine.ArcusController(url) as arcus:
        for cmd in ("SYNXP=800", "SYNXC=1", "SYNXO"):
            arcus.query(cmd)
        task = daq.make(_spec("syn", 200), line=3, syn_compare_steps=None)
        task.start()
        assert task.read(10, 0.02).shape == (0, 6)  # no edge yet: the axis is at rest
        arcus.move_abs("X", 3000)
        volts = _read_all(task, 200)
        task.close()
        armed, event = _engine.sim_sync_event(url, "X")
    assert task.start_instant_ns() == event == daq.truth.starts[3] and event > armed
    assert _engine.sim_truth(url, "X", np.array([event]))[0] == pytest.approx(800, abs=1.0)
    t = event + np.round(np.arange(200) * 1e5).astype(np.int64)
    np.testing.assert_allclose(volts, _truth_volts(url, t), rtol=0, atol=1e-12)


def test_syn_start_without_an_armed_syn_fires_where_the_compare_would():
    url = _sim_bench()
    daq = SimulatedDaq(url)
    with _engine.ArcusController(url) as arcus:
        assert _engine.sim_sync_event(url, "X") is None
        task = daq.make(_spec("syn", 50), line=0, syn_compare_steps=1200.0)
        task.start()
        arcus.move_abs("X", 2000)
        _read_all(task, 50)
        task.close()
    t0 = daq.truth.starts[0]
    assert _engine.sim_truth(url, "X", np.array([t0]))[0] == pytest.approx(1200.0, abs=1e-6)


def test_the_emulated_syn_edge_waits_for_the_crossing_in_the_lines_direction():
    url = _sim_bench()
    daq = SimulatedDaq(url)
    with _engine.ArcusController(url) as arcus:
        task = daq.make(_spec("syn", 20), line=1, syn_compare_steps=1200.0, direction=-1)
        task.start()
        arcus.move_abs("X", 2000)  # crosses 1200 upwards: not this line's edge
        arcus.wait_idle("X", timeout_s=30)
        assert task.read(20, 0.01).shape == (0, 6)
        arcus.move_abs("X", 0)
        _read_all(task, 20)
        task.close()
    t0 = daq.truth.starts[1]
    x = _engine.sim_truth(url, "X", np.array([t0, t0 + 1_000_000]))
    assert x[0] == pytest.approx(1200.0, abs=1e-6) and x[1] < x[0]


def test_a_reader_behind_the_buffer_gets_the_overrun_error():
    url = _sim_bench()
    task = SimulatedDaq(url).make(_spec("software", 10_000, buffer_samples=10), line=2)
    task.start()
    time.sleep(0.02)  # 200 ticks at 10 kHz into a 10-sample buffer
    with pytest.raises(DaqOverrunError, match="line 2.*overwritten"):
        task.read(10_000, 1.0)
    task.close()


# ---- flyscans on the simulated bench ------------------------------------------------------------
def _fly(start: str, tmp_path, factory=None, pattern="serpentine"):
    url = bench_url(f"daqmx-fly-{start}-{next(_BENCHES)}")
    options = {} if factory is None else {"daq_factory": factory}
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", **options)
    config = FlyScanConfig.from_dict(daq_config(start, quick=True).to_dict() | {"pattern": pattern})
    results = app.service.run_study(config).results
    return url, app.scan_port, results


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["serpentine", "unidirectional"])
def test_syn_started_daq_maps_the_field_with_exact_sample_times(tmp_path, pattern):
    # unidirectional: the return move crosses the next line's first point the other way first
    url, port, results = _fly("syn", tmp_path, pattern=pattern)
    assert results.status.value == "completed", results.stats
    feed = port.last_daq
    assert feed.error is None and sorted(feed.lines) == [0, 1]
    config = results.config
    plan = build_plan(config)
    for k, line in feed.lines.items():
        assert not line.stamped and line.samples == line_task_spec(config, line_geometry(config, plan, k)).n_samples
        assert line.start_ns == port.last_daq_truth.starts[k]  # the SYN edge: 0 by construction
    figures = daq_figures(results, url, feed, port.last_daq_truth.starts)
    assert figures["sample_time_error_us"] == {"p50": 0.0, "p99": 0.0, "max": 0.0}
    # what each line's task did is saved with the scan
    saved = load_results(str(tmp_path / "scan.h5")).stats["daq"]["lines"]
    assert [(s["line"], s["start"], s["samples"]) for s in saved] == [(k, "syn", f.samples)
                                                                       for k, f in sorted(feed.lines.items())]
    assert figures["map_rms_error_rel"] <= 0.01
    # the samples are where the truth says: the engine's model error only
    assert figures["position_error_steps"]["p99"] < 2.0
    # each sample's instant is the edge plus index / rate, exactly
    raw = results.raw
    for k, line in feed.lines.items():
        offsets = np.asarray(raw.t_ns)[np.asarray(raw.line) == k] - line.start_ns
        assert np.all(np.abs(offsets / 1e5 - np.round(offsets / 1e5)) * 1e5 <= 1)


@pytest.mark.slow
def test_software_started_daq_is_placed_late_by_its_start_latency(tmp_path):
    url, port, results = _fly("software", tmp_path)
    assert results.status.value == "completed", results.stats
    feed, truth = port.last_daq, port.last_daq_truth
    assert sorted(feed.lines) == [0, 1] and all(line.stamped for line in feed.lines.values())
    lateness_ns = {k: truth.starts[k] - line.start_ns for k, line in feed.lines.items()}
    assert all(late >= 200_000 for late in lateness_ns.values())  # at least the driver's least latency
    figures = daq_figures(results, url, feed, truth.starts)
    assert np.isfinite(figures["map_rms_error_rel"])
    # a sample placed `late` early is off by at most speed × late, plus the model's error
    worst_late_s = max(lateness_ns.values()) * 1e-9
    assert figures["position_error_steps"]["p99"] <= 1500 * worst_late_s + 2.0
    assert figures["sample_time_error_us"]["max"] == pytest.approx(max(lateness_ns.values()) * 1e-3)


class _SlowReader:
    """The simulated DAQ with a reader that falls behind a small buffer."""

    name = "daqmx_sim"

    def __init__(self, config, url):
        self.inner = SimulatedDaq(url, config.fast_axis, STEP_MM)
        self.truth = self.inner.truth

    def check(self):
        self.inner.check()

    def make(self, spec, line, syn_compare_steps=None, direction=0):
        task = self.inner.make(AiTaskSpec(**(spec.__dict__ | {"buffer_samples": 10})), line, syn_compare_steps,
                               direction)
        read = task.read

        def slow_read(max_samples, timeout_s):
            time.sleep(0.02)
            return read(max_samples, timeout_s)

        task.read = slow_read
        return task


@pytest.mark.slow
def test_a_daq_overrun_fails_the_scan_and_stops_the_motors(tmp_path):
    url, port, results = _fly("software", tmp_path, factory=_SlowReader)
    assert results.status.value == "failed"
    assert port.last_daq.error is not None and "overwritten" in str(port.last_daq.error)
    assert results.lines_done < results.config.lines
    with _engine.ArcusController(url) as arcus:
        assert not arcus.is_moving()


@pytest.mark.slow
def test_aefi_flyscan_daqmx_sim_runs_the_hardware_timed_path(tmp_path):
    cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(tmp_path), "--no-progress",
           "--port", "sim://cli-daqmx-sim?timing=none", "--detector", "daqmx_sim", "--lines", "2",
           "--points-per-line", "21", "--fast-start-mm", "25", "--fast-stop-mm", "45", "--slow-start-mm", "30",
           "--slow-stop-mm", "34", "--daqmx-rate-hz", "5000", "--start-trigger", "syn"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "DAQ syn start: sample-time error vs truth p50/p99/max 0.0/0.0/0.0 µs" in stdout
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["cadence"] == "hardware_clocked" and stats["status"] == "completed"
    assert stats["daq_sample_time_error_us"] == {"p50": 0.0, "p99": 0.0, "max": 0.0}
    assert stats["map_rms_error_rel"] <= 0.01 and stats["position_error_steps"]["p99"] < 2.0
    assert stats["detector_rate_hz"] == pytest.approx(5000, rel=0.01)
