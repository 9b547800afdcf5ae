"""`aefi-bench board`: the board path, the legacy Python loop against the engine, on the same simulators.

Both fly the same map (aefi-flyscan's demo raster, or a shorter one with --quick) on one in-process
simulated bench (`sim://`: the Arcus at 9600 baud with wire timing and its acquisition board, which
reads the field map at the Arcus' true position):

- legacy: one Python thread triggers at the board's timing-model rate and on each trigger reads
  the board (a blocking `m<n>*` round trip), then the position (a blocking Arcus round trip); the
  position of a sample is interpolated on the polls afterwards (`legacy.board_loop`);
- engine: the board is read back to back on its own I/O thread while the motion thread polls the
  Arcus, and each sample is placed at the middle of its averaging window by the engine's model.

For each averaging n: the achieved sample rate against the board's timing-model limit, the
position error of every sample against the simulator's truth at the middle of its averaging
window, the map's RMS error against the field map, and the wall time of the map.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, Optional

import numpy as np

from ..domain.config import FlyScanConfig
from ..domain.gridding import grid_samples
from ..domain.quality import percentiles, relative_rms_error
from ..legacy.board_loop import run_board_line
from .flyscan import DEFAULTS, board_truth_fast_mm, build_stats, truth_map, truth_map_on

#: The bench both loops fly on (its own name: the demo's bench is left alone).
BENCH_URL = "sim://aefi-bench-board?baud=9600&timing=wire"
BOARD_URL = "sim://aefi-bench-board"
N_AVGS = (1, 10, 127)
#: Extra run-up/run-out beyond the ramp (s at fly speed), as the engine's plan has.
RUN_MARGIN_S = 0.02


def board_config(n_avg: int, quick: bool = False) -> FlyScanConfig:
    """aefi-flyscan's demo raster with the board at `n_avg` (quick: 2 lines of 30 mm)."""
    values: dict[str, Any] = {k: v for k, v in DEFAULTS.items() if k not in ("sample_rate_hz", "trigger")}
    values.update(detector="board", trigger="continuous", board_n_avg=n_avg, seed=1)
    if quick:
        values.update(fast_start_mm=24.0, fast_stop_mm=54.0, points_per_line=31, lines=2, slow_start_mm=30.0,
                      slow_stop_mm=40.0)
    return FlyScanConfig(**values)


def engine_board_run(config: FlyScanConfig) -> dict[str, Any]:
    """The engine's flyscan of `config` with the simulated board; its figures."""
    from ..bootstrap import build_flyscan

    with tempfile.TemporaryDirectory() as tmp:
        app = build_flyscan(BENCH_URL, BOARD_URL, out_dir=tmp, file_name="scan.h5")
        results = app.service.run_study(config).results
    stats = build_stats(results, BENCH_URL, True, truth_map(results), BOARD_URL)
    return {
        "status": stats["status"], "samples": stats["samples"], "wall_time_s": stats["wall_time_s"],
        "detector_rate_hz": stats["detector_rate_hz"], "sample_interval_us": stats["sample_interval_us"],
        "position_error_steps": stats["position_error_steps"], "map_rms_error_rel": stats["map_rms_error_rel"],
        "samples_per_cell": stats["samples_per_cell"],
    }


def legacy_board_run(engine: Any, config: FlyScanConfig, rate_hz: float) -> dict[str, Any]:
    """The legacy loop's flyscan of `config`: triggers at `rate_hz`, the board then the position on
    each; its figures."""
    scale = config.scale
    fast, slow = config.fast_axis, config.slow_axis
    arcus = engine.ArcusController(BENCH_URL)
    board = engine.BoardController(BOARD_URL)
    saved = arcus.speeds(fast)
    fast_mm: list[np.ndarray] = []
    slow_mm: list[np.ndarray] = []
    volts: list[np.ndarray] = []
    t_ns: list[np.ndarray] = []
    skipped = 0
    try:
        v = round(config.speed_pps)
        arcus.set_speeds(fast, high_speed_pps=v)
        speeds = arcus.speeds(fast)
        ramp = (speeds["low_speed_pps"] + v) / 2 * max(speeds["accel_ms"], speeds["decel_ms"]) * 1e-3
        run_steps = int(np.ceil(ramp + v * RUN_MARGIN_S + 2))
        t0 = time.perf_counter()
        for i, slow_pos_mm in enumerate(config.slow_axis_mm):
            d = config.line_direction(i)
            a_mm, b_mm = (config.fast_start_mm, config.fast_stop_mm) if d > 0 else (config.fast_stop_mm,
                                                                                    config.fast_start_mm)
            a, b = scale.to_steps(a_mm), scale.to_steps(b_mm)
            arcus.move_abs(fast, a - d * run_steps)
            arcus.move_abs(slow, scale.to_steps(float(slow_pos_mm)))
            arcus.wait_idle(None, timeout_s=120.0)
            arcus.move_abs(fast, b + d * run_steps)
            line = run_board_line(lambda: board.measure(config.board_n_avg), lambda: arcus.position(fast), rate_hz,
                                  until=lambda p, b=b, d=d: d * (p - b) > 0)
            arcus.wait_idle(None, timeout_s=120.0)
            skipped += line.skipped
            pos = line.sample_positions_steps()
            in_span = (d * (pos - a) >= 0) & (d * (pos - b) <= 0)
            fast_mm.append(pos[in_span] * scale.step_mm)
            slow_mm.append(np.full(int(in_span.sum()), float(slow_pos_mm)))
            volts.append(line.channels_volts[in_span])
            t_ns.append(line.sample_t_ns[in_span])
        wall_s = time.perf_counter() - t0
    finally:
        arcus.set_speeds(fast, high_speed_pps=int(saved["high_speed_pps"]))
        board.close()
        arcus.close()
    f, s, c, t = np.concatenate(fast_mm), np.concatenate(slow_mm), np.concatenate(volts), np.concatenate(t_ns)
    grid = grid_samples(f, s, c, config.fast_axis_mm, config.slow_axis_mm)
    truth = truth_map_on(config, config.fast_axis_mm, config.slow_axis_mm)
    errors = np.abs(f - board_truth_fast_mm(BOARD_URL, fast, t)) / scale.step_mm
    # the achieved rate while flying: intervals within a line, as the engine counts them
    intervals = np.concatenate([np.diff(x) for x in t_ns if x.size > 1] or [np.empty(0)]) * 1e-3
    return {
        "status": "completed", "samples": int(t.size), "wall_time_s": wall_s,
        "detector_rate_hz": 1e6 * intervals.size / intervals.sum() if intervals.size else 0.0,
        "sample_interval_us": ({"p50": float(np.percentile(intervals, 50)), "p99": float(np.percentile(intervals, 99)),
                                "max": float(intervals.max())} if intervals.size else None),
        "position_error_steps": percentiles(errors),
        "map_rms_error_rel": relative_rms_error(grid.volts, truth) if truth is not None else None,
        "samples_per_cell": {"min": float(grid.counts.min()), "mean": float(grid.counts.mean())},
        "skipped_triggers": skipped,
    }


def board_comparison(engine: Any, n_avgs: Sequence[int] = N_AVGS, quick: bool = False,
                     progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Both loops at each averaging; the JSON document's `board` part."""
    rows = []
    for n in n_avgs:
        config = board_config(n, quick)
        limit_hz = 1e9 / engine.board_round_trip_model_ns(n)
        progress(f"  board n={n}: Python loop (triggers at the {limit_hz:.1f} Hz limit) ...")
        legacy = legacy_board_run(engine, config, limit_hz)
        progress(f"  board n={n}: Rust engine (back to back) ...")
        rust = engine_board_run(config)
        rows.append({"n_avg": n, "rate_limit_hz": limit_hz, "window_ms": engine.board_window_model_ns(n) * 1e-6,
                     "legacy": legacy, "rust": rust})
    return {"bench": BENCH_URL, "map": _map_of(board_config(n_avgs[0], quick)), "rows": rows}


def _map_of(config: FlyScanConfig) -> dict[str, Any]:
    return {"lines": config.lines, "points_per_line": config.points_per_line, "fast_span_mm": config.fast_span_mm,
            "speed_mm_s": config.speed_mm_s}


def _fmt(value: Optional[float], spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_board(part: dict[str, Any]) -> str:
    """The board comparison as a text table."""
    m = part["map"]
    out = [f"Board path on {part['bench']}: {m['lines']} lines × {m['points_per_line']} points, "
           f"{m['fast_span_mm']:g} mm at {m['speed_mm_s']:g} mm/s",
           f"{'n':>4} {'loop':<12} {'rate Hz':>8} {'limit Hz':>9} {'pos err p50/p99 steps':>22} "
           f"{'map RMS %':>10} {'cells min/mean':>15} {'wall s':>7}"]
    for row in part["rows"]:
        for loop, label in (("legacy", "Python loop"), ("rust", "Rust engine")):
            r = row[loop]
            pe, cells = r["position_error_steps"], r["samples_per_cell"]
            rms = r["map_rms_error_rel"]
            errors = f"{_fmt(pe['p50'], '.2f')}/{_fmt(pe['p99'], '.2f')}" if pe else "n/a"
            counts = f"{cells['min']:.0f}/{cells['mean']:.1f}" if cells else "n/a"
            out.append(
                f"{row['n_avg']:>4} {label:<12} {_fmt(r['detector_rate_hz'], '.1f'):>8} {row['rate_limit_hz']:>9.1f} "
                f"{errors:>22} {_fmt(None if rms is None else 100 * rms, '.2f'):>10} {counts:>15} "
                f"{_fmt(r['wall_time_s'], '.1f'):>7}")
    return "\n".join(out)
