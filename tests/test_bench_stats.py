"""aefi-bench statistics on plain numbers (no simulator, no timing)."""
import math

import numpy as np
import pytest

from pymodaq_plugins_aefi.cli import bench_stats as bs


def test_percentile_is_inverted_cdf():
    values = list(range(1, 101))  # 1..100
    assert bs.percentile(values, 50) == 50
    assert bs.percentile(values, 99) == 99
    assert bs.percentile(values, 100) == 100
    assert bs.percentile([7.0], 99) == 7.0
    assert math.isnan(bs.percentile([], 50))


def test_percentile_rejects_out_of_range_q():
    with pytest.raises(ValueError, match="q_percent"):
        bs.percentile([1, 2], 101)


def test_lateness_summary_counts_skipped_and_whole_period_late():
    period_ns = 1_000_000
    lateness_ns = [10_000] * 97 + [999_999, 1_000_000, 3_000_000]
    s = bs.lateness_summary(lateness_ns, period_ns, skipped=5)
    assert s.count == 100
    assert s.missed == 5 + 2
    assert s.p50_us == pytest.approx(10.0)
    assert s.p99_us == pytest.approx(1000.0)
    assert s.max_us == pytest.approx(3000.0)


def test_lateness_summary_clips_negative_to_zero():
    s = bs.lateness_summary([-50, 0, 100], 1000)
    assert s.p50_us == 0.0
    assert s.max_us == pytest.approx(0.1)
    assert s.missed == 0


def test_lateness_summary_empty_run_is_nan_not_error():
    s = bs.lateness_summary([], 1000, skipped=3)
    assert s.count == 0 and s.missed == 3
    assert math.isnan(s.p99_us) and math.isnan(s.max_us)


@pytest.mark.parametrize("period_ns, skipped", [(0, 0), (-1, 0), (1000, -1)])
def test_lateness_summary_rejects_bad_input(period_ns, skipped):
    with pytest.raises(ValueError):
        bs.lateness_summary([1], period_ns, skipped)


def test_error_summary_uses_absolute_values_and_drops_nan():
    s = bs.error_summary([-3.0, 1.0, np.nan, 2.0, -0.5])
    assert s.count == 4
    assert s.max_steps == 3.0
    assert s.p50_steps == 1.0


def test_wire_limit_matches_the_protocol_note_table():
    # notes/arcus-protocol.md §6: PX with a 5-digit reply, 12 bytes: 960/s at 115200, 80/s at 9600.
    assert bs.wire_limit_hz(115200, 6, 6) == pytest.approx(960.0)
    assert bs.wire_limit_hz(9600, 6, 6) == pytest.approx(80.0)
    with pytest.raises(ValueError, match="baud"):
        bs.wire_limit_hz(0, 6, 6)


def test_position_reply_bytes_counts_sign_digits_and_cr():
    assert bs.position_reply_bytes([27523, -1, 1000]) == pytest.approx((6 + 3 + 5) / 3)
    with pytest.raises(ValueError):
        bs.position_reply_bytes([])


def test_rate_from_stamps():
    stamps = np.arange(0, 1_000_000_001, 1_000_000)  # 1001 stamps over 1 s
    assert bs.rate_hz(stamps) == pytest.approx(1000.0)
    assert bs.rate_hz([5]) == 0.0


def test_improvement_directions_and_counts():
    assert bs.improvement(5000.0, 25.0) == pytest.approx(200.0)  # lateness: lower is better
    assert bs.improvement(300.0, 900.0, higher_is_better=True) == pytest.approx(3.0)
    assert bs.improvement(500, 0, count=True) == pytest.approx(500.0)  # a zero counts as one
    assert bs.improvement(0, 0, count=True) == pytest.approx(1.0)
    assert bs.improvement(None, 3.0) is None
    assert bs.improvement(math.nan, 3.0) is None
    assert bs.improvement(3.0, 0.0) is None


def test_ratios_table_reads_dotted_paths():
    legacy = {"r1k": {"loaded": {"p99_us": 4000.0, "missed": 120}}, "poll": {"rate_hz": 300.0}}
    rust = {"r1k": {"loaded": {"p99_us": 20.0, "missed": 0}}, "poll": {"rate_hz": 900.0}}
    out = bs.ratios_table(legacy, rust, {
        "p99_lateness": ("r1k.loaded.p99_us", False, False),
        "missed_triggers": ("r1k.loaded.missed", False, True),
        "poll_rate": ("poll.rate_hz", True, False),
        "absent": ("nowhere.at_all", False, False),
    })
    assert out == {"p99_lateness": pytest.approx(200.0), "missed_triggers": pytest.approx(120.0),
                   "poll_rate": pytest.approx(3.0), "absent": None}


def test_trapezoid_matches_the_bench_check():
    # notes/arcus-protocol.md §5: L = 10 000, HS 1500, LS 10, ACC = DEC = 300 ms gives 6.965 s.
    assert bs.trapezoid_move_s(10_000, 10, 1500, 0.3) == pytest.approx(6.965, abs=1e-3)


def test_trapezoid_short_move_is_a_triangle():
    # 114.7 steps (2.5 mm at 21.8 µm) is shorter than the two 226.5-step ramps.
    a = (1500 - 10) / 0.3
    vp = math.sqrt(10**2 + a * 114.7)
    assert bs.trapezoid_move_s(114.7, 10, 1500, 0.3) == pytest.approx(2 * (vp - 10) / a)
    assert bs.trapezoid_move_s(0, 10, 1500, 0.3) == 0.0
    # continuity at the triangle/trapezoid boundary
    edge = (10 + 1500) / 2 * 0.3 * 2
    assert bs.trapezoid_move_s(edge - 1e-6, 10, 1500, 0.3) == pytest.approx(
        bs.trapezoid_move_s(edge + 1e-6, 10, 1500, 0.3), rel=1e-6)


@pytest.mark.parametrize("args", [(-1, 10, 1500, 0.3), (10, 0, 1500, 0.3), (10, 2000, 1500, 0.3), (10, 10, 1500, 0)])
def test_trapezoid_rejects_bad_input(args):
    with pytest.raises(ValueError):
        bs.trapezoid_move_s(*args)


def test_lateness_from_stamps_recovers_lateness_on_an_unknown_grid():
    rng = np.random.default_rng(3)
    period_ns = 200_000  # 5 kHz
    k = np.arange(5000)
    k = k[rng.random(k.size) > 0.01]  # some deadlines skipped
    late = rng.exponential(30.0, k.size)  # mostly tens of ns
    late[::97] = rng.uniform(1_000, 150_000, late[::97].size)  # a few very late ones
    t = (123_456_789 + k * period_ns + late).astype(np.int64)
    got = bs.lateness_from_stamps(t, 5000.0)
    assert got == pytest.approx(late - late.min(), abs=2.0)


def test_lateness_from_stamps_edge_cases():
    assert bs.lateness_from_stamps([], 1000.0).size == 0
    assert bs.lateness_from_stamps([5], 1000.0) == pytest.approx([0.0])
    with pytest.raises(ValueError, match="rate_hz"):
        bs.lateness_from_stamps([1, 2], 0.0)
