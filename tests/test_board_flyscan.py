"""Flyscans through `_engine` with the simulated acquisition board as the detector: the Arcus and
the board of one `sim://NAME` bench share one ground truth, both wire-timed."""
import itertools
import time

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine

STEP_MM = 0.0218
DEFAULT_SPEED_PPS = 1500.0  # the bench's high speed: 32.7 mm/s
FLAG_DETECTOR_FAULT = 128
_BENCHES = itertools.count()
pytestmark = pytest.mark.slow


def steps(mm: float) -> int:
    return round(mm / STEP_MM)


def bench() -> tuple[_engine.ArcusController, _engine.BoardController, str]:
    url = f"sim://board-fly{next(_BENCHES)}"
    arcus = _engine.ArcusController(url)
    arcus.query("HS=1500")  # the bench's speeds: HS 1500 pps, LS 10 pps
    arcus.query("LS=10")
    for axis in ("X", "Y"):
        arcus.set_speeds(axis, accel_ms=100, decel_ms=100)
    return arcus, _engine.BoardController(url), url


def plan(x_mm, y_mm, lines, **overrides):
    p = {"fast_axis": "X", "slow_axis": "Y", "fast_start_steps": steps(x_mm[0]), "fast_stop_steps": steps(x_mm[1]),
         "slow_start_steps": steps(y_mm[0]), "slow_stop_steps": steps(y_mm[1]), "lines": lines,
         "speed_pps": DEFAULT_SPEED_PPS, "detector": "board", "trigger": "continuous", "board_n_avg": 1,
         "realtime": False}
    p.update(overrides)
    return p


def run(executor) -> tuple[dict, dict]:
    chunks = []
    while executor.running:
        chunks.append(executor.drain())
        time.sleep(0.05)
    stats = executor.join(timeout_s=120)
    chunks.append(executor.drain())
    return stats, {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}


def test_board_flyscan_map_matches_the_known_field_at_the_default_speed():
    arcus, board, url = bench()
    (x0, x1), (y0, y1), lines = (26.0, 50.0), (26.0, 38.0), 4
    executor = _engine.RustScanExecutor()
    executor.start(plan((x0, x1), (y0, y1), lines), arcus, board)
    assert board.is_lent and arcus.is_lent
    stats, cols = run(executor)
    assert stats["status"] == "completed", stats
    assert not board.is_lent and not arcus.is_lent
    assert stats["rejected_samples"] == 0
    # one MCU transaction per sample: the model gives 11.5 ms at n = 1; smear = speed × window
    assert 40.0 < stats["sample_rate_hz"] < 100.0, stats["sample_rate_hz"]
    assert stats["smear_steps"] == pytest.approx(DEFAULT_SPEED_PPS * 238.9e-6, rel=0.05)
    assert not np.any(cols["flags"] & FLAG_DETECTOR_FAULT) and np.all(np.isfinite(cols["channels"]))
    x_grid = np.linspace(x0 + 0.5, x1 - 0.5, 41)
    got, truth = [], []
    for line in range(lines):
        on_line = cols["line"] == line
        order = np.argsort(cols["fast_steps"][on_line])
        x_mm = cols["fast_steps"][on_line][order] * STEP_MM
        y_mm = cols["slow_steps"][on_line][0] * STEP_MM
        got.append(np.column_stack([np.interp(x_grid, x_mm, cols["channels"][on_line][order][:, ch])
                                    for ch in range(6)]))
        truth.append(_engine.field_map_volts(x_grid, np.full_like(x_grid, y_mm)))
    got, truth = np.vstack(got), np.vstack(truth)
    rms = np.sqrt(np.mean((got - truth) ** 2, axis=0))
    # 2 % of each channel's range over the map (the acceptance figure of the bench)
    assert np.all(rms <= 0.02 * np.ptp(truth, axis=0)), (rms, np.ptp(truth, axis=0))
    # every sample is where the simulator's truth says the probe was at its window's middle
    board_truth = _engine.sim_board_truth(url)
    assert len(board_truth["t_mid_ns"]) >= stats["samples"]


def test_unplugging_the_board_stops_the_motors_and_keeps_the_lines_taken():
    arcus, board, url = bench()
    executor = _engine.RustScanExecutor()
    executor.start(plan((20.0, 44.0), (30.0, 40.0), 3), arcus, board)
    deadline = time.monotonic() + 60
    while executor.progress()["lines_done"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    _engine.sim_board_fault(url, "unplug")
    stats, cols = run(executor)
    assert stats["status"] == "failed", stats
    assert stats["error"]["type"] == "LinkError" and "unplugged" in stats["error"]["message"]
    assert np.count_nonzero(cols["line"] == 0) > 40
    assert not np.any(cols["line"] == 2)
    assert not arcus.is_lent and not board.is_lent
    first = arcus.positions()
    time.sleep(0.1)
    assert arcus.positions() == first, "the stage is at rest"
    _engine.sim_board_fault(url, "clear")
    assert board.measure(1).shape == (6,)
