"""aefi-bench's board path: the legacy loop reading the board on each trigger, and both loops on one simulator."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.legacy.board_loop import run_board_line


def test_the_legacy_board_loop_reads_the_board_then_the_position_on_each_trigger():
    calls = []
    position = iter(range(0, 10_000, 10))

    def read_board():
        calls.append("board")
        return np.arange(6, dtype=float)

    def read_position():
        calls.append("position")
        return next(position)

    line = run_board_line(read_board, read_position, rate_hz=2000.0, until=lambda p: p >= 50)
    assert calls == ["board", "position"] * 6  # positions 0..50: the line ends on the poll past 50
    assert line.channels_volts.shape == (6, 6) and line.poll_steps.tolist() == [0, 10, 20, 30, 40, 50]
    assert np.all(line.board_recv_ns >= line.board_send_ns) and np.all(np.diff(line.board_send_ns) > 0)
    # each sample sits at the middle of its board round trip, placed on the polls' midpoints
    assert np.all(line.sample_t_ns >= line.board_send_ns) and np.all(line.sample_t_ns <= line.board_recv_ns)
    positions = line.sample_positions_steps()
    assert np.all(np.diff(positions) > 0) and positions[0] <= 0.0 + 1e-9


def test_the_legacy_board_loop_refuses_a_nonsense_rate():
    with pytest.raises(ValueError):
        run_board_line(lambda: np.zeros(6), lambda: 0, rate_hz=0.0, until=lambda p: True)


@pytest.mark.slow
def test_both_loops_fly_the_same_map_on_one_simulator_and_are_checked_against_its_truth():
    from pymodaq_plugins_aefi import _engine
    from pymodaq_plugins_aefi.cli.bench_board import board_comparison, render_board

    part = board_comparison(_engine, [1], quick=True, progress=lambda _: None)
    (row,) = part["rows"]
    assert row["n_avg"] == 1 and row["rate_limit_hz"] == pytest.approx(1e9 / _engine.board_round_trip_model_ns(1))
    for loop in ("legacy", "rust"):
        r = row[loop]
        assert r["status"] == "completed" and r["samples"] > 0, (loop, r)
        # nobody reads the board faster than one round trip of its timing model
        assert 0 < r["detector_rate_hz"] <= 1.02 * row["rate_limit_hz"], (loop, r)
        assert r["position_error_steps"]["p99"] < 5.0 and r["map_rms_error_rel"] < 0.02, (loop, r)
    # the legacy loop reads the position after each board reply: two round trips per sample
    assert row["legacy"]["detector_rate_hz"] < row["rust"]["detector_rate_hz"]
    assert "Python loop" in render_board(part) and "Rust engine" in render_board(part)
