"""What the same map would cost as the legacy step scan: move, settle, measure, next point.

The Arcus moves are trapezoids from the low speed to the high speed in the accel time (the
bench's settings: LS 10 pulses/s, HS 1500 pulses/s, 300 ms ramps); each point then waits the
settle time. The estimate is a lower bound of the legacy run (it leaves out the detector's
averaging and the legacy worker's own delays).
"""
from __future__ import annotations

import math

from .config import FlyScanConfig

LEGACY_LOW_SPEED_PPS = 10.0
LEGACY_HIGH_SPEED_PPS = 1500.0
LEGACY_ACCEL_MS = 300.0
LEGACY_SETTLE_MS = 300.0


def trapezoid_move_s(
    distance_steps: float,
    high_speed_pps: float = LEGACY_HIGH_SPEED_PPS,
    low_speed_pps: float = LEGACY_LOW_SPEED_PPS,
    accel_ms: float = LEGACY_ACCEL_MS,
) -> float:
    """Duration (s) of a point-to-point move: ramp LS→HS in accel_ms, cruise, ramp down."""
    distance = abs(float(distance_steps))
    if distance == 0:
        return 0.0
    ramp_s = accel_ms * 1e-3
    accel_pps2 = (high_speed_pps - low_speed_pps) / ramp_s
    ramp_steps = (high_speed_pps + low_speed_pps) / 2 * ramp_s
    if distance >= 2 * ramp_steps:
        return 2 * ramp_s + (distance - 2 * ramp_steps) / high_speed_pps
    # Triangle: the move ends before reaching HS; peak speed from v² = LS² + a·d (half the distance each way).
    peak_pps = math.sqrt(low_speed_pps**2 + accel_pps2 * distance)
    return 2 * (peak_pps - low_speed_pps) / accel_pps2


def step_scan_estimate_s(
    config: FlyScanConfig,
    settle_ms: float = LEGACY_SETTLE_MS,
    high_speed_pps: float = LEGACY_HIGH_SPEED_PPS,
    low_speed_pps: float = LEGACY_LOW_SPEED_PPS,
    accel_ms: float = LEGACY_ACCEL_MS,
) -> float:
    """Seconds for the legacy serpentine step scan of the map's points (X then Y moves, not coordinated)."""
    step_mm = config.scale.step_mm
    along_s = trapezoid_move_s(config.fast_pitch_mm / step_mm, high_speed_pps, low_speed_pps, accel_ms)
    across_s = trapezoid_move_s(config.slow_pitch_mm / step_mm, high_speed_pps, low_speed_pps, accel_ms)
    moves_s = config.lines * (config.points_per_line - 1) * along_s + (config.lines - 1) * across_s
    if config.pattern == "unidirectional":
        # the fast axis returns to the start of every line
        return_s = trapezoid_move_s(config.fast_span_mm / step_mm, high_speed_pps, low_speed_pps, accel_ms)
        moves_s += (config.lines - 1) * return_s
    return moves_s + config.point_count * settle_ms * 1e-3
