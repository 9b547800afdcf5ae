"""One point of the legacy step scan, timed the way the AEFI application runs it.

notes/aefi-legacy.md §1: per point the application moves, waits for the motion to end (the Arcus
worker waits a fixed 0.25 s after the move command, then asks `is_moving` every 0.1 s), sleeps
the stabilization delay (300 ms by default), then averages `averaging_per_position` detector
readings (10 by default).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .arcus_serial import LegacyArcus

#: The Arcus worker's fixed wait after a move command, and its `is_moving` polling period.
ARCUS_WORKER_POST_MOVE_S = 0.25
ARCUS_WORKER_POLL_S = 0.1


@dataclass(frozen=True)
class StepPointTiming:
    """Where the time of one step-scan point went (seconds)."""

    move_s: float  # move command until the worker saw the axis idle
    settle_s: float
    acquire_s: float
    volts: tuple[float, ...]  # the averaged measurement

    @property
    def total_s(self) -> float:
        return self.move_s + self.settle_s + self.acquire_s


def step_scan_point(
    arcus: LegacyArcus,
    axis: str,
    target_steps: int,
    slow_steps: float,
    detector: Callable[[float, float], np.ndarray],
    settle_s: float = 0.3,
    averaging: int = 10,
) -> StepPointTiming:
    """Move `axis` to `target_steps`, wait, settle, average `averaging` readings."""
    if settle_s < 0:
        raise ValueError(f"settle_s must be >= 0 s, got {settle_s}")
    if averaging < 1:
        raise ValueError(f"averaging must be >= 1, got {averaging}")
    t0 = time.perf_counter()
    arcus.move_abs(axis, target_steps)
    time.sleep(ARCUS_WORKER_POST_MOVE_S)
    arcus.wait_idle(axis, poll_s=ARCUS_WORKER_POLL_S)
    t1 = time.perf_counter()
    time.sleep(settle_s)
    t2 = time.perf_counter()
    position_steps = float(arcus.position_steps(axis))
    readings = np.asarray([detector(position_steps, slow_steps) for _ in range(averaging)])
    t3 = time.perf_counter()
    return StepPointTiming(t1 - t0, t2 - t1, t3 - t2, tuple(float(v) for v in readings.mean(axis=0)))
