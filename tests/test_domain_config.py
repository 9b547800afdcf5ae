"""FlyScanConfig: physical units, derived values, and refusals that name the field and its range."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.domain import FlyScanConfig, InvalidScanConfig, ScanId, step_scan_estimate_s, trapezoid_move_s


def make(**overrides):
    values = dict(fast_start_mm=10.0, fast_stop_mm=90.0, slow_start_mm=10.0, slow_stop_mm=70.0,
                  lines=13, points_per_line=81, speed_mm_s=20.0, sample_rate_hz=1000.0)
    values.update(overrides)
    return FlyScanConfig(**values)


def test_derived_values_in_physical_units():
    c = make()
    assert c.fast_pitch_mm == pytest.approx(1.0)
    assert c.slow_pitch_mm == pytest.approx(5.0)
    assert c.sample_spacing_mm == pytest.approx(0.02)
    assert c.speed_pps == pytest.approx(20.0 / 0.0218)
    np.testing.assert_allclose(c.fast_axis_mm[[0, 1, -1]], [10.0, 11.0, 90.0])
    np.testing.assert_allclose(c.slow_axis_mm[[0, -1]], [10.0, 70.0])
    assert [c.line_direction(i) for i in range(3)] == [1, -1, 1]
    assert make(pattern="unidirectional").line_direction(1) == 1


@pytest.mark.parametrize("field, value, words", [
    ("fast_stop_mm", 1300.0, "[0, 1200] mm"),
    ("slow_start_mm", -1.0, "[0, 1200] mm"),
    ("lines", 0, "[1, 10000]"),
    ("points_per_line", 1, "[2, 100000]"),
    ("speed_mm_s", 0.0, "mm/s"),
    ("speed_mm_s", 500.0, "65.4"),  # 3000 pulses/s at 21.8 µm
    ("sample_rate_hz", 0.5, "Hz"),
    ("pattern", "spiral", "serpentine, unidirectional"),
    ("fast_axis", "W", "X, Y, Z, U"),
    ("slow_axis", "X", "must differ"),
    ("lines", 2.5, "whole number"),
    ("speed_mm_s", float("nan"), "finite"),
    ("detector", "lockin", "virtual_probe"),
])
def test_refusals_name_the_field_and_range(field, value, words):
    with pytest.raises(InvalidScanConfig) as info:
        make(**{field: value})
    assert info.value.field == field
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_sample_rate_must_fill_every_cell():
    with pytest.raises(InvalidScanConfig) as info:
        make(points_per_line=801, speed_mm_s=30.0, sample_rate_hz=100.0)
    assert info.value.field == "sample_rate_hz" and "at least 300 Hz" in str(info.value)


def test_round_trip_through_a_dict_refuses_unknown_keys():
    c = make(pattern="unidirectional", step_um=43.6)
    assert FlyScanConfig.from_dict(c.to_dict()) == c
    with pytest.raises(InvalidScanConfig) as info:
        FlyScanConfig.from_dict({**c.to_dict(), "speed_mms": 3})
    assert info.value.field == "speed_mms"


def test_scan_id_format():
    from datetime import datetime, timezone
    assert ScanId.new(datetime(2026, 11, 25, 19, 5, 7, tzinfo=timezone.utc)).value == "scan_20261125_190507"
    assert ScanId("scan_20261125_190507_2").value.endswith("_2")
    with pytest.raises(ValueError, match="scan_YYYYMMDD_HHMMSS"):
        ScanId("run-1")


def test_trapezoid_move_times():
    # 1500 pulses/s cruise, 300 ms ramps from 10 pulses/s: ramps cover 226.5 steps each.
    assert trapezoid_move_s(0) == 0
    assert trapezoid_move_s(453 + 1500) == pytest.approx(0.6 + 1500 / 1500, rel=1e-3)
    short = trapezoid_move_s(46)  # a 1 mm step never reaches HS
    assert 0.05 < short < 0.6
    assert trapezoid_move_s(46) < trapezoid_move_s(92) < trapezoid_move_s(10_000)


def test_step_scan_estimate_counts_settle_and_moves():
    c = make(lines=3, points_per_line=11, fast_start_mm=10, fast_stop_mm=20, slow_start_mm=0, slow_stop_mm=2)
    along = trapezoid_move_s(1.0 / 0.0218)
    across = trapezoid_move_s(1.0 / 0.0218)
    expected = 3 * 10 * along + 2 * across + 33 * 0.3
    assert step_scan_estimate_s(c) == pytest.approx(expected)
