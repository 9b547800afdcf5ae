"""RustScanAdapter on the real engine and the in-process simulated bench (sim://)."""
import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.port_arbiter import PortArbiter
from pymodaq_plugins_aefi.adapters.rust_scan_adapter import RustScanAdapter
from pymodaq_plugins_aefi.domain import (
    FlyScan,
    FlyScanConfig,
    FlyScanLineCorrelated,
    FlyScanProgress,
    InvalidScanConfig,
    ScanStatus,
    place_by_line_ends,
)
from pymodaq_plugins_aefi.domain.quality import percentiles
from pymodaq_plugins_aefi.testing.fakes import RecordingObserver

STEP_MM = 0.0218


def config(**overrides):
    values = dict(fast_start_mm=15, fast_stop_mm=45, slow_start_mm=20, slow_stop_mm=40, lines=3, points_per_line=31,
                  speed_mm_s=20, sample_rate_hz=500)
    values.update(overrides)
    return FlyScanConfig(**values)


def test_fast_scan_on_the_simulator_maps_the_field():
    url = "sim://adapter-sim-1?timing=none"
    obs = RecordingObserver()
    results = RustScanAdapter(url).execute_scan(FlyScan(config()), obs)
    assert results.status is ScanStatus.COMPLETED and not results.partial, results.error
    assert results.map.counts.min() > 0
    xx, yy = np.meshgrid(results.map.fast_axis_mm, results.map.slow_axis_mm)
    truth = np.asarray(_engine.field_map_volts(xx.ravel(), yy.ravel())).T.reshape(results.map.volts.shape)
    err = np.sqrt(np.nanmean((results.map.volts - truth) ** 2)) / np.ptp(truth)
    assert err < 0.03, err
    assert [e.line for e in obs.of_type(FlyScanLineCorrelated)] == [0, 1, 2]
    assert obs.of_type(FlyScanProgress)
    assert results.stats["lines"] == 3 and results.stats["dropped_records"] == 0
    assert PortArbiter.for_url(url, None).borrower is None


@pytest.mark.slow
def test_engine_placement_beats_line_end_interpolation():
    """One line at wire timing: the engine's model vs the legacy constant-speed interpolation, against truth."""
    url = "sim://adapter-sim-corr?baud=9600&timing=wire"
    c = config(lines=1, slow_start_mm=30, slow_stop_mm=30, fast_start_mm=10, fast_stop_mm=50, sample_rate_hz=1000)
    results = RustScanAdapter(url).execute_scan(FlyScan(c), RecordingObserver())
    assert results.status is ScanStatus.COMPLETED, results.error
    raw = results.raw
    truth_steps = np.asarray(_engine.sim_truth(url, "X", raw.t_ns), dtype=float)
    model_err = np.abs(raw.fast_mm / STEP_MM - truth_steps)
    line = results.lines[0]
    ends_mm = place_by_line_ends(raw.t_ns, int(raw.t_ns.min()), int(raw.t_ns.max()), line.fast_from_mm, line.fast_to_mm)
    ends_err = np.abs(ends_mm / STEP_MM - truth_steps)
    model, ends = percentiles(model_err), percentiles(ends_err)
    print(f"\nposition error vs truth (steps): engine model p50 {model['p50']:.3f} p99 {model['p99']:.3f} "
          f"max {model_err.max():.3f}; line-end interpolation p50 {ends['p50']:.3f} p99 {ends['p99']:.3f} "
          f"max {ends_err.max():.3f}")
    assert model["p99"] < ends["p99"]
    assert model["p99"] <= 1.0


def test_bad_plan_is_refused_before_motion_with_the_config_field():
    url = "sim://adapter-sim-2?timing=none"
    # 1200 mm is inside the config's travel, but the run-up beyond it is not
    with pytest.raises(InvalidScanConfig) as info:
        RustScanAdapter(url).execute_scan(FlyScan(config(fast_start_mm=1150, fast_stop_mm=1200)), RecordingObserver())
    assert info.value.field == "fast_stop_mm"
    assert PortArbiter.for_url(url, None).borrower is None
