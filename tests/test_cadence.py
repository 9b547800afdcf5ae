"""Detector cadence and plan advice (domain.cadence): samples per cell, smear, the speed that fixes them."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.domain.cadence import (
    cadence_of,
    cell_count_stats,
    interval_stats_us,
    plan_advice,
    sample_intervals_us,
)
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.errors import InvalidScanConfig


def config(**overrides):
    values = dict(fast_start_mm=14.0, fast_stop_mm=74.0, slow_start_mm=16.0, slow_stop_mm=58.0, lines=8,
                  points_per_line=61, speed_mm_s=20.0, detector="board", trigger="continuous")
    values.update(overrides)
    return FlyScanConfig(**values)


def test_each_detector_declares_its_cadence():
    assert cadence_of(config()) == "back_to_back"
    assert cadence_of(config(detector="virtual_probe", trigger="software")) == "triggered"
    assert cadence_of(config(detector="none", trigger="hardware", sample_rate_hz=2000.0)) == "hardware_clocked"
    assert cadence_of(config(detector="virtual_probe", trigger="continuous")) == "back_to_back"


def test_the_board_refuses_a_trigger_and_names_what_sets_its_rate():
    with pytest.raises(InvalidScanConfig) as err:
        config(trigger="software")
    assert err.value.field == "trigger" and "board_n_avg" in str(err.value)


def test_advice_of_the_demo_plan_with_the_board_at_one_average():
    # 87 Hz over a 1 mm cell flown at 20 mm/s: 4.35 samples; a 0.24 ms window smears 4.8 µm
    advice = plan_advice(config(), 87.0, 0.239e-3)
    assert advice.cadence == "back_to_back"
    assert advice.samples_per_cell == pytest.approx(1.0 * 87.0 / 20.0)
    assert advice.smear_mm == pytest.approx(20.0 * 0.239e-3)
    assert not advice.too_few_samples and not advice.smear_too_wide and advice.warnings == []
    assert "samples per 1 mm cell" in advice.summary()


def test_too_few_samples_per_cell_warns_with_the_speed_that_fixes_it():
    # 24 Hz (127 averages) over 1 mm cells at 20 mm/s: 1.2 samples per cell
    advice = plan_advice(config(board_n_avg=127), 24.0, 30.3e-3)
    assert advice.too_few_samples and advice.samples_per_cell == pytest.approx(1.2)
    # 2 samples a cell: 1 mm × 24 Hz / 2 = 12 mm/s; half a cell of smear: 0.5 mm / 30.3 ms = 16.5 mm/s
    assert advice.advised_max_speed_mm_s == pytest.approx(12.0)
    assert advice.smear_too_wide  # 20 mm/s × 30.3 ms = 0.61 mm > 0.5 mm
    assert len(advice.warnings) == 2 and all("12 mm/s" in w for w in advice.warnings)
    fixed = plan_advice(config(board_n_avg=127, speed_mm_s=advice.advised_max_speed_mm_s), 24.0, 30.3e-3)
    assert not fixed.too_few_samples and not fixed.smear_too_wide


def test_smear_alone_warns():
    advice = plan_advice(config(), 1000.0, 40e-3)  # plenty of samples, a long window
    assert not advice.too_few_samples and advice.smear_too_wide
    assert advice.advised_max_speed_mm_s == pytest.approx(0.5 / 40e-3)
    assert len(advice.warnings) == 1 and "smears" in advice.warnings[0]


def test_advice_refuses_nonsense_rates():
    with pytest.raises(ValueError):
        plan_advice(config(), 0.0, 0.0)
    with pytest.raises(ValueError):
        plan_advice(config(), 10.0, -1.0)


def test_sample_intervals_stay_within_lines():
    t = np.array([0, 10_000, 20_000, 1_000_000, 1_030_000, 5, 10_005])
    line = np.array([0, 0, 0, 1, 1, 2, 2])
    intervals = sample_intervals_us(t, line)
    np.testing.assert_allclose(np.sort(intervals), [10.0, 10.0, 10.0, 30.0])
    stats = interval_stats_us(intervals)
    assert stats is not None and stats["p50"] == pytest.approx(10.0) and stats["max"] == pytest.approx(30.0)
    assert interval_stats_us(sample_intervals_us(np.array([1]), np.array([0]))) is None


def test_cell_counts_over_the_lines_flown():
    counts = np.array([[3, 4, 5], [2, 0, 6], [0, 0, 0]])
    assert cell_count_stats(counts) == {"min": 0.0, "mean": pytest.approx(20 / 9)}
    assert cell_count_stats(counts, lines_done=2) == {"min": 0.0, "mean": pytest.approx(20 / 6)}
    assert cell_count_stats(counts, lines_done=1) == {"min": 3.0, "mean": 4.0}
    assert cell_count_stats(counts, lines_done=0) is None
