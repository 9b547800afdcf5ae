"""The measurements of `aefi-bench`: one fly line per (loop, load, rate), and the map timings.

Every run flies the fast axis at the same speed over the same span, alternating direction so no
time is lost going back; the Python loop and the Rust engine take turns on the same simulator.
Raw stamps are kept (`RunData`) so position errors can be computed once the simulator has
exited and its ground-truth log is complete.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import numpy as np

from ..legacy import LegacyArcus, run_fly_loop, step_scan_point
from . import bench_stats as bs
from .bench_env import CpuMeter, PythonLoad

#: How long the legacy loop waits after launching a fly move before it starts triggering, so that
#: it samples the constant-speed part like the engine does (the bench ramps in 300 ms).
RAMP_WAIT_S = 0.45
POLL_QUERY_BYTES = len("@00PX\r")
DETECTORS_NOTE = (
    "Python loop: each trigger evaluates the simulated probe (_engine.field_map_volts) at the newest "
    "polled position, as the legacy loop reads its detector. Rust engine: detector 'none' (positions "
    "only), because its virtual probe reads the truth of an in-process simulator and this simulator "
    "runs in another process; 'detector_cost_us' gives what the probe costs each side.")


def detector_cost_us(detector: Callable[[float, float], np.ndarray],
                     field_map_volts: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> dict[str, float]:
    """Cost of one probe reading: the Python loop's call, and the Rust evaluation per point."""
    n_calls, n_points = 2000, 200_000
    t0 = time.perf_counter()
    for i in range(n_calls):
        detector(10_000.0 + i, 1000.0)
    python_call_us = (time.perf_counter() - t0) / n_calls * 1e6
    x_mm = np.linspace(200.0, 500.0, n_points)
    t0 = time.perf_counter()
    field_map_volts(x_mm, np.full(n_points, 21.8))
    rust_point_us = (time.perf_counter() - t0) / n_points * 1e6
    return {"python_loop_call": python_call_us, "rust_per_point": rust_point_us}


@dataclass(frozen=True)
class BenchConfig:
    """What one `aefi-bench` run measures. Positions in steps, speeds in pulses/s."""

    baud: int = 115200
    # The simulator's controller turnaround (last command byte in -> first reply byte out); the
    # real figure is unknown (notes/arcus-protocol.md §1), 200 µs is the simulator's default.
    turnaround_us: float = 200.0
    rates_hz: tuple[float, ...] = (100.0, 1000.0, 5000.0)
    duration_s: float = 10.0
    speed_pps: float = 1500.0
    # The bench's axis settings (notes/arcus-protocol.md §7): LS 10 pps, ACC = DEC = 300 ms.
    low_speed_pps: int = 10
    accel_ms: int = 300
    fast_axis: str = "X"
    slow_axis: str = "Y"
    # 12 000..27 000 steps: every position reply has 5 digits, the figure the wire limit assumes.
    fast_origin_steps: int = 12_000
    slow_steps: int = 1000
    step_um: float = 21.8
    realtime: bool = True
    # The AEFI map: 81 × 81 points over 200 mm (600-800 mm on the bench), 300 ms settle, 10 averages.
    map_points: int = 81
    map_span_mm: float = 200.0
    settle_s: float = 0.3
    averaging: int = 10
    step_points_measured: int = 10
    fly_lines_measured: int = 3
    fly_line_mm: float = 200.0
    fly_map_rate_hz: float = 1000.0

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """The CI smoke configuration (well under a minute)."""
        return replace(cls(duration_s=0.5, step_points_measured=2, fly_lines_measured=2, fly_line_mm=10.0), **overrides)

    def validate(self) -> None:
        if not 9600 <= self.baud <= 115200:
            raise ValueError(f"baud must be in 9600..115200, got {self.baud}")
        if not self.rates_hz or any(not 0 < r <= 20_000 for r in self.rates_hz):
            raise ValueError(f"rates_hz must be in (0, 20000] Hz, got {self.rates_hz}")
        if not 0 < self.duration_s <= 120:
            raise ValueError(f"duration_s must be in (0, 120] s, got {self.duration_s}")
        if not 0 <= self.turnaround_us <= 100_000:
            raise ValueError(f"turnaround_us must be in 0..100000 µs, got {self.turnaround_us}")
        if not 10 <= self.speed_pps <= 6000:
            raise ValueError(f"speed_pps must be in 10..6000 pps, got {self.speed_pps}")
        if self.step_points_measured < 1 or self.fly_lines_measured < 2:
            raise ValueError("step_points_measured must be >= 1 and fly_lines_measured >= 2")
        if not 0 < self.fly_line_mm <= self.map_span_mm:
            raise ValueError(f"fly_line_mm must be in (0, map_span_mm={self.map_span_mm}], got {self.fly_line_mm}")

    @property
    def span_steps(self) -> int:
        return int(round(self.speed_pps * self.duration_s))

    @property
    def runup_steps(self) -> int:
        return int(round(self.speed_pps * RAMP_WAIT_S))

    def mm_to_steps(self, mm: float) -> int:
        return int(round(mm * 1000.0 / self.step_um))


@dataclass
class RunData:
    """One fly line of one loop: raw stamps for the truth comparison, figures for the table."""

    loop: str  # "legacy" | "rust"
    load: str  # "idle" | "loaded"
    rate_hz: float
    lateness_ns: Optional[np.ndarray]  # per trigger (the Rust engine reports a histogram summary)
    sample_t_ns: np.ndarray
    sample_steps: np.ndarray
    figures: dict[str, Any] = field(default_factory=dict)


class LineSchedule:
    """Alternates the direction of the fly lines so the axis never travels back empty."""

    def __init__(self, cfg: BenchConfig) -> None:
        self._a = cfg.fast_origin_steps
        self._b = cfg.fast_origin_steps + cfg.span_steps
        self._forward = True

    def next(self) -> tuple[int, int]:
        start, stop = (self._a, self._b) if self._forward else (self._b, self._a)
        self._forward = not self._forward
        return start, stop


FieldMap = Callable[[np.ndarray, np.ndarray], np.ndarray]


def steps_detector(step_um: float, field_map_volts: FieldMap) -> Callable[[float, float], np.ndarray]:
    """The virtual probe as the Python loop reads it: the field map at a position in steps."""
    step_mm = step_um * 1e-3

    def read(fast_steps: float, slow_steps: float) -> np.ndarray:
        return field_map_volts(np.array([fast_steps * step_mm]), np.array([slow_steps * step_mm]))[0]

    return read


def wire_limit_for(cfg: BenchConfig, positions_steps: np.ndarray, fallback_steps: int) -> float:
    """PX round trips per second the wire allows, for replies as long as these positions'."""
    seen = positions_steps if positions_steps.size else np.array([fallback_steps])
    return bs.wire_limit_hz(cfg.baud, POLL_QUERY_BYTES, bs.position_reply_bytes(seen))


def poll_figures(cfg: BenchConfig, poll_rate_hz: float, wire_limit_hz: float) -> dict[str, float]:
    """Poll rate against the bare wire limit and against what the wire plus turnaround allows."""
    achievable_hz = 1.0 / (1.0 / wire_limit_hz + cfg.turnaround_us * 1e-6)
    return {
        "poll_rate_hz": poll_rate_hz,
        "wire_limit_hz": wire_limit_hz,
        "wire_fraction": poll_rate_hz / wire_limit_hz,
        "achievable_hz": achievable_hz,
        "achievable_fraction": poll_rate_hz / achievable_hz,
    }


def configure_axes(arcus: LegacyArcus, cfg: BenchConfig) -> None:
    """Both axes at the bench's speed settings, and parked at the origin of the fly lines."""
    for axis in (cfg.fast_axis, cfg.slow_axis):
        arcus.set_speeds(axis, int(cfg.speed_pps), cfg.low_speed_pps, cfg.accel_ms, cfg.accel_ms)
    arcus.move_abs(cfg.slow_axis, cfg.slow_steps)
    arcus.wait_idle(cfg.slow_axis, poll_s=0.01)
    arcus.move_abs(cfg.fast_axis, cfg.fast_origin_steps)
    arcus.wait_idle(cfg.fast_axis, poll_s=0.01)


def legacy_fly_run(arcus: LegacyArcus, cfg: BenchConfig, rate_hz: float, load: str, line: tuple[int, int],
                   detector: Callable[[float, float], np.ndarray]) -> RunData:
    start, stop = line
    sign = 1 if stop > start else -1
    arcus.set_high_speed(cfg.fast_axis, int(cfg.speed_pps))
    arcus.move_abs(cfg.fast_axis, start - sign * cfg.runup_steps)
    arcus.wait_idle(cfg.fast_axis, poll_s=0.01)
    arcus.move_abs(cfg.fast_axis, stop + sign * cfg.runup_steps)
    time.sleep(RAMP_WAIT_S)
    with PythonLoad(enabled=load == "loaded") as python_load, CpuMeter() as cpu:
        result = run_fly_loop(arcus, cfg.fast_axis, float(cfg.slow_steps), detector, rate_hz, cfg.duration_s)
    arcus.wait_idle(cfg.fast_axis, poll_s=0.01)
    lateness = bs.lateness_summary(result.lateness_ns, result.period_ns, result.skipped)
    poll_rate = bs.rate_hz(result.poll_recv_ns)
    limit = wire_limit_for(cfg, result.poll_steps, start)
    figures = {
        "rate_hz": rate_hz,
        "wall_s": result.wall_s,
        "lateness_us": {"p50": lateness.p50_us, "p99": lateness.p99_us, "max": lateness.max_us},
        "triggers": lateness.count,
        "deadlines": lateness.count + result.skipped,
        "missed": lateness.missed,
        "samples": int(result.fired_ns.size),
        "polls": int(result.poll_steps.size),
        **poll_figures(cfg, poll_rate, limit),
        "cpu_s": max(cpu.used_s - python_load.thread_cpu_s, 0.0),
    }
    figures["cpu_percent"] = 100.0 * figures["cpu_s"] / result.wall_s
    return RunData("legacy", load, rate_hz, result.lateness_ns, result.fired_ns, result.sample_positions_steps(),
                   figures)


def engine_plan(cfg: BenchConfig, rate_hz: float, line: tuple[int, int], lines: int = 1,
                slow_stop_steps: Optional[int] = None) -> dict[str, Any]:
    start, stop = line
    return {
        "fast_axis": cfg.fast_axis,
        "slow_axis": cfg.slow_axis,
        "fast_start_steps": start,
        "fast_stop_steps": stop,
        "slow_start_steps": cfg.slow_steps,
        "slow_stop_steps": cfg.slow_steps if slow_stop_steps is None else slow_stop_steps,
        "lines": lines,
        "pattern": "serpentine",
        "speed_pps": cfg.speed_pps,
        # The engine's virtual probe reads an in-process simulator's truth; over the PTY to the
        # simulator process it has none, so the engine records positions only (see bench.py).
        "detector": "none",
        "trigger": "software",
        "sample_rate_hz": rate_hz,
        "realtime": cfg.realtime,
        "step_um": cfg.step_um,
    }


def run_engine_plan(engine: Any, ctrl: Any, plan: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Start a scan, drain it at 10 Hz the way the adapter does, and join it."""
    executor = engine.RustScanExecutor()
    executor.start(plan, arcus=ctrl)
    chunks = []
    try:
        while executor.running:
            chunks.append(executor.drain())
            time.sleep(0.1)
    except BaseException:
        executor.abort()  # Ctrl-C or a drain failure: STOP on the wire, the link comes back
        executor.join()
        raise
    stats = executor.join()
    chunks.append(executor.drain())
    records = {key: np.concatenate([c[key] for c in chunks if key in c]) for key in ("t_ns", "fast_steps", "flags")}
    if stats.get("status") != "completed":
        raise RuntimeError(f"engine scan ended {stats.get('status')}: {stats.get('error')}")
    return stats, records


def engine_fly_run(engine: Any, ctrl: Any, cfg: BenchConfig, rate_hz: float, load: str,
                   line: tuple[int, int]) -> RunData:
    plan = engine_plan(cfg, rate_hz, line)
    with PythonLoad(enabled=load == "loaded") as python_load, CpuMeter() as cpu:
        t0 = time.perf_counter()
        stats, records = run_engine_plan(engine, ctrl, plan)
        wall_s = time.perf_counter() - t0
    late = stats["trigger_lateness_us"]
    poll_rate = float(stats["poll_rate_hz"])
    # Same reference as the Python loop's: PX with 5-digit replies at this baud.
    limit = wire_limit_for(cfg, records["fast_steps"], line[0])
    sample_late_ns = bs.lateness_from_stamps(records["t_ns"], rate_hz)
    sample_late = bs.lateness_summary(sample_late_ns, round(1e9 / rate_hz))
    # The recomputation assumes one deadline grid; when it disagrees with the engine's own
    # histogram it is not used (the plot then shows the engine's percentiles).
    consistent = (abs(sample_late.p50_us - late["p50"]) <= 1.0
                  and sample_late.p99_us <= max(2.0 * late["p99"], late["p99"] + 5.0))
    figures = {
        "rate_hz": rate_hz,
        "wall_s": wall_s,
        # the engine's own histogram, over every tick of the scan (run-up and run-out included)
        "lateness_us": {"p50": late["p50"], "p99": late["p99"], "max": late["max"]},
        # recomputed from the samples' stamps (the sampled span only), the same way as the plot
        "sample_lateness_us": {"p50": sample_late.p50_us, "p99": sample_late.p99_us, "max": sample_late.max_us,
                               "consistent_with_engine": consistent},
        "triggers": int(late["count"]),
        "deadlines": int(late["count"]) + int(stats["missed_triggers"]),
        "missed": int(stats["missed_triggers"]),
        "samples": int(records["t_ns"].size),
        "polls": int(stats["polls"]),
        **poll_figures(cfg, poll_rate, limit),
        "engine_wire_limit_hz": float(stats["wire_limit_hz"]),
        "cpu_s": max(cpu.used_s - python_load.thread_cpu_s, 0.0),
        "rt": stats.get("rt"),
        "dropped_records": int(stats.get("dropped_records", 0)),
    }
    figures["cpu_percent"] = 100.0 * figures["cpu_s"] / wall_s
    return RunData("rust", load, rate_hz, sample_late_ns if consistent else None, records["t_ns"],
                   records["fast_steps"], figures)


def step_map_time(arcus: LegacyArcus, cfg: BenchConfig,
                  detector: Callable[[float, float], np.ndarray]) -> dict[str, Any]:
    """The legacy step scan: time real points on the simulator, scale to the whole map.

    In a serpentine 81 × 81 map every point is reached by one move of one pitch (the line change
    is a pitch on the slow axis), so the map takes points × the per-point time.
    """
    pitch_steps = cfg.mm_to_steps(cfg.map_span_mm / (cfg.map_points - 1))
    origin = cfg.fast_origin_steps
    arcus.move_abs(cfg.fast_axis, origin)
    arcus.wait_idle(cfg.fast_axis, poll_s=0.01)
    totals, moves = [], []
    for i in range(1, cfg.step_points_measured + 1):
        timing = step_scan_point(arcus, cfg.fast_axis, origin + i * pitch_steps, float(cfg.slow_steps), detector,
                                 settle_s=cfg.settle_s, averaging=cfg.averaging)
        totals.append(timing.total_s)
        moves.append(timing.move_s)
    per_point_s = float(np.mean(totals))
    points = cfg.map_points * cfg.map_points
    return {
        "kind": "step scan",
        "wall_time_s": per_point_s * points,
        "per_point_s": per_point_s,
        "per_point_move_wait_s": float(np.mean(moves)),
        "points_measured": cfg.step_points_measured,
        "method": (f"{cfg.step_points_measured} real step points on the simulator (pitch {pitch_steps} steps, "
                   f"fixed 0.25 s + is_moving every 0.1 s, settle {cfg.settle_s * 1e3:.0f} ms, "
                   f"{cfg.averaging} readings); mean per-point time × {points} points"),
    }


def fly_map_time(engine: Any, ctrl: Any, cfg: BenchConfig) -> dict[str, Any]:
    """The Rust flyscan: fly real lines on the simulator, scale to the whole map.

    The per-line cycle (fly, run-out, slow step, run-up) is the spacing of consecutive line
    starts. A line shorter than the map's is corrected by the missing length at fly speed (that
    part is constant-speed travel), so the scaling is exact for the motion model.
    """
    pitch_steps = cfg.mm_to_steps(cfg.map_span_mm / (cfg.map_points - 1))
    line_steps = cfg.mm_to_steps(cfg.fly_line_mm)
    full_steps = cfg.mm_to_steps(cfg.map_span_mm)
    start = cfg.fast_origin_steps
    plan = engine_plan(cfg, cfg.fly_map_rate_hz, (start, start + line_steps), lines=cfg.fly_lines_measured,
                       slow_stop_steps=cfg.slow_steps + (cfg.fly_lines_measured - 1) * pitch_steps)
    t0 = time.perf_counter()
    stats, _ = run_engine_plan(engine, ctrl, plan)
    wall_s = time.perf_counter() - t0
    starts = np.array([lt["t_start_ns"] for lt in stats["line_times"]], dtype=np.float64)
    cycle_s = float(np.mean(np.diff(starts))) / 1e9
    per_line_s = cycle_s + (full_steps - line_steps) / cfg.speed_pps
    return {
        "kind": "flyscan",
        "wall_time_s": per_line_s * cfg.map_points,
        "per_line_s": per_line_s,
        "measured_cycle_s": cycle_s,
        "measured_wall_s": wall_s,
        "lines_measured": cfg.fly_lines_measured,
        "method": (f"{cfg.fly_lines_measured} serpentine lines of {cfg.fly_line_mm:g} mm flown by the engine on the "
                   f"simulator at {cfg.speed_pps:g} pps, {cfg.fly_map_rate_hz:g} Hz triggers; mean line-start spacing"
                   f" + ({cfg.map_span_mm:g} - {cfg.fly_line_mm:g}) mm at fly speed, × {cfg.map_points} lines"),
    }
