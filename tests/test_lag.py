"""The detector lag in the domain: measured from a serpentine's lines, or configured, and compensated.

Synthetic raw streams of a known field read by a detector that answers `lag` late (each sample holds
the field where the probe was `lag` before its stamp), lines flown both ways as the engine does.
"""
import numpy as np
import pytest

from pymodaq_plugins_aefi.domain import FlyScan, FlyScanConfig, InvalidScanConfig, ScanStatus, assemble_results
from pymodaq_plugins_aefi.domain.lag import DetectorLag, estimate_lag, positions_at_lag, resolve_lag
from pymodaq_plugins_aefi.domain.quality import relative_rms_error
from pymodaq_plugins_aefi.domain.results import regrid
from pymodaq_plugins_aefi.domain.samples import RawSamples

RATE_HZ = 87.0  # the board at one average
NOISE_VOLTS = 3e-4


def field(x_mm, y_mm):
    """Two dipole-like bumps on a gradient, six channels (the simulator's kind of map)."""
    b1 = np.exp(-((x_mm - 38) ** 2 + (y_mm - 32) ** 2) / (2 * 7.0**2))
    b2 = np.exp(-((x_mm - 52) ** 2 + (y_mm - 22) ** 2) / (2 * 5.0**2))
    return np.stack([-(x_mm - 38) / 7 * b1, -(y_mm - 32) / 7 * b1, b1 + 0.5 * b2, 0.1 * b1 - 0.2 * b2,
                     0.01 * x_mm + 0.3 * b2, (x_mm - 52) / 5 * b2], axis=1)


def config(lines=8, pattern="serpentine", **values):
    values = {"slow_start_mm": 16.0, "slow_stop_mm": 37.0, **values}
    return FlyScanConfig(fast_start_mm=14.0, fast_stop_mm=74.0, lines=lines, points_per_line=61, speed_mm_s=20.0,
                         pattern=pattern, **values)


def flown(cfg, lag_s, seed=1):
    """The raw stream of `cfg` read by a detector lagging `lag_s`, with the board's noise."""
    rng = np.random.default_rng(seed)
    parts, t0 = [], 0.0
    for line, slow_mm in enumerate(cfg.slow_axis_mm):
        direction = cfg.line_direction(line)
        start = cfg.fast_start_mm if direction > 0 else cfg.fast_stop_mm
        t = t0 + np.arange(int(cfg.fast_span_mm / cfg.speed_mm_s * RATE_HZ)) / RATE_HZ
        fast = start + direction * cfg.speed_mm_s * (t - t0)
        volts = field(fast - direction * cfg.speed_mm_s * lag_s, np.full(t.size, slow_mm))
        parts.append(dict(t=t, fast=fast, slow=np.full(t.size, slow_mm), line=np.full(t.size, line),
                          volts=volts + rng.normal(0, NOISE_VOLTS, volts.shape)))
        t0 = t[-1] + 1.0
    column = lambda key: np.concatenate([p[key] for p in parts])  # noqa: E731
    n = column("t").size
    return RawSamples(seq=np.arange(n), t_ns=np.round(column("t") * 1e9).astype(np.int64), line=column("line"),
                      fast_mm=column("fast"), slow_mm=column("slow"), pos_err_mm=np.zeros(n), flags=np.full(n, 2),
                      channels_volts=column("volts"))


def truth_on(cfg):
    xx, yy = np.meshgrid(cfg.fast_axis_mm, cfg.slow_axis_mm)
    return field(xx.ravel(), yy.ravel()).T.reshape(6, cfg.lines, cfg.points_per_line)


def results_of(cfg, raw):
    scan = FlyScan(cfg)
    scan.status = ScanStatus.COMPLETED
    return assemble_results(scan, raw)


@pytest.mark.parametrize("lag_ms", [0.0, 1.5, 21.5, 60.0])
def test_the_lag_is_measured_within_its_uncertainty(lag_ms):
    estimate = estimate_lag(flown(config(), lag_ms * 1e-3))
    assert estimate.source == "estimated" and estimate.lines_matched == 6 and not estimate.applied
    assert estimate.uncertainty_ms is not None and estimate.uncertainty_ms < 3.0
    # the mean over 6 lines, each off by the field's change across the slow axis (second order)
    assert abs(estimate.lag_ms - lag_ms) < max(3 * estimate.uncertainty_ms, 0.5), estimate


def test_compensation_removes_the_comb():
    cfg = config()
    raw = flown(cfg, 0.0215)
    results = results_of(cfg, raw)
    assert results.lag.applied and results.lag.source == "estimated"
    assert abs(results.lag.lag_ms - 21.5) < 0.15 * 21.5
    truth = truth_on(cfg)
    interior = (slice(None), slice(None), slice(1, -1))  # the edge half-cells lose the samples shifted out
    with_lag = relative_rms_error(results.map.volts[interior], truth[interior])
    stamped = results_of(config(detector_lag_ms=0.0), raw)
    assert not stamped.lag.applied and stamped.lag.source == "configured"
    without = relative_rms_error(stamped.map.volts[interior], truth[interior])
    # uncompensated, each line reads the field v·lag = 0.43 mm behind, alternately along ±x
    xx, yy = np.meshgrid(cfg.fast_axis_mm, cfg.slow_axis_mm)
    direction = np.array([cfg.line_direction(k) for k in range(cfg.lines)])[:, None] * np.ones_like(xx)
    shifted = field((xx - direction * 20.0 * 0.0215).ravel(), yy.ravel()).T.reshape(truth.shape)
    predicted = relative_rms_error(shifted[interior], truth[interior])
    assert without == pytest.approx(predicted, rel=0.3)
    assert with_lag < 0.01 and with_lag < 0.2 * without, (with_lag, without)


def test_a_configured_lag_is_applied_as_given():
    cfg = config(detector_lag_ms=21.5)
    results = results_of(cfg, flown(cfg, 0.0215))
    assert results.lag == DetectorLag(21.5, None, "configured", True, 0, "")
    assert results.lag.to_dict()["detector_lag_applied"] is True


def test_an_insignificant_estimate_is_recorded_not_applied():
    # no lag: the estimate scatters about zero by the field's change between lines (~0.3 ms here)
    cfg = config()
    raw = flown(cfg, 0.0)
    lag, positions = resolve_lag(raw, None)
    assert lag.source == "estimated" and lag.uncertainty_ms is not None
    assert abs(lag.lag_ms) < 2 * lag.uncertainty_ms, lag
    assert not lag.applied and "not applied" in lag.note
    np.testing.assert_array_equal(positions, raw.fast_mm)


@pytest.mark.parametrize("lines,pattern,why", [(1, "serpentine", "opposite directions"),
                                               (6, "unidirectional", "opposite directions")])
def test_no_estimate_without_lines_flown_both_ways(lines, pattern, why):
    cfg = config(lines=lines, pattern=pattern)
    results = results_of(cfg, flown(cfg, 0.0215))
    assert results.lag.lag_ms is None and not results.lag.applied and why in results.lag.note


def test_two_lines_give_an_estimate_without_uncertainty_that_is_not_applied():
    cfg = config(lines=2, slow_start_mm=30.0, slow_stop_mm=33.0)
    raw = flown(cfg, 0.0215)
    lag, positions = resolve_lag(raw, None)
    assert lag.lag_ms is not None and lag.uncertainty_ms is None and not lag.applied and lag.lines_matched == 1
    np.testing.assert_array_equal(positions, raw.fast_mm)


def test_positions_at_lag_follow_each_lines_motion():
    cfg = config(lines=2)
    raw = flown(cfg, 0.0)
    moved = positions_at_lag(raw, 10.0)
    forward, backward = raw.line == 0, raw.line == 1
    # 10 ms back at 20 mm/s: 0.2 mm behind, in each line's own direction, the first samples extrapolated
    np.testing.assert_allclose(moved[forward], raw.fast_mm[forward] - 0.2, atol=1e-9)
    np.testing.assert_allclose(moved[backward], raw.fast_mm[backward] + 0.2, atol=1e-9)
    np.testing.assert_array_equal(positions_at_lag(raw, 0.0), raw.fast_mm)


def test_a_straight_field_has_no_structure_to_measure_a_lag_by():
    cfg = config()
    raw = flown(cfg, 0.0215)
    flat = RawSamples(**{**raw.columns(), "channels_volts": np.outer(raw.fast_mm, np.arange(1, 7.0))})
    assert estimate_lag(flat).lag_ms is None


def test_regrid_rebuilds_the_map_from_the_raw_stream():
    cfg = config()
    raw = flown(cfg, 0.0215)
    results = results_of(cfg, raw)
    finer = regrid(results, pitch_mm=0.25, lag_ms=None, regridded_from="scan.h5")
    assert finer.config.points_per_line == 241 and finer.map.volts.shape == (6, 8, 241)
    assert finer.config.fast_pitch_mm == pytest.approx(0.25)
    assert finer.lag.applied and finer.lag.lag_ms == pytest.approx(results.lag.lag_ms)
    assert finer.stats["regridded_from"] == "scan.h5" and finer.raw is raw
    unshifted = regrid(results, lag_ms=0.0)
    assert unshifted.config.points_per_line == 61 and not unshifted.lag.applied
    assert unshifted.config.detector_lag_ms == 0.0
    with pytest.raises(InvalidScanConfig) as info:
        regrid(results, pitch_mm=-1.0)
    assert info.value.field == "pitch_mm"
    with pytest.raises(InvalidScanConfig) as info:
        regrid(results, lag_ms=-5.0)
    assert info.value.field == "detector_lag_ms"


def test_the_config_checks_and_keeps_the_lag():
    assert config().detector_lag_ms is None
    assert FlyScanConfig.from_dict(config(detector_lag_ms=12.5).to_dict()).detector_lag_ms == 12.5
    for bad in (-1.0, 501.0, float("nan"), "abc"):
        with pytest.raises(InvalidScanConfig) as info:
            config(detector_lag_ms=bad)
        assert info.value.field == "detector_lag_ms"


def test_a_large_raster_is_measured_on_a_bounded_number_of_lines():
    cfg = config(lines=40, slow_start_mm=10.0, slow_stop_mm=49.0)  # 1 mm apart
    estimate = estimate_lag(flown(cfg, 0.0215))
    assert estimate.lines_matched == 32  # of the 38 lines with a neighbour on each side
    assert abs(estimate.lag_ms - 21.5) < max(3 * estimate.uncertainty_ms, 0.5), estimate


def test_regrid_keeps_a_differential_scans_baseline_on_the_new_grid_and_lag():
    from pymodaq_plugins_aefi.domain.results import with_baseline

    cfg = config()
    raw = flown(cfg, 0.0215)
    # the muted lines: the same flight, the field off, a 20 mV offset left
    muted = RawSamples(**{**raw.columns(), "channels_volts": np.full_like(raw.channels_volts, 0.02)})
    results = with_baseline(results_of(cfg, raw), muted)
    finer = regrid(results, pitch_mm=0.5)
    assert finer.baseline is not None and finer.baseline.volts.shape == finer.map.volts.shape == (6, 8, 121)
    np.testing.assert_allclose(finer.baseline_volts[np.isfinite(finer.baseline_volts)], 0.02)
    # the baseline samples are placed with the map's lag: the same cells filled
    np.testing.assert_array_equal(finer.baseline.counts, finer.map.counts)
