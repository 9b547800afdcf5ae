"""The legacy-style Python baseline of `aefi-bench`: how the AEFI Python code drives the bench.

A pyserial Arcus client (`LegacyArcus`), the Python flyscan loop (`run_fly_loop`: one thread,
polling position and firing software triggers on an absolute schedule) and the step-scan point
routine (`step_scan_point`: move, wait, settle, average). The detector is injected as a callable,
so this package imports neither the Rust extension nor PyMoDAQ.
"""
from .arcus_serial import LegacyArcus, LegacyArcusError
from .fly_loop import FlyLoopResult, run_fly_loop
from .step_scan import StepPointTiming, step_scan_point

__all__ = [
    "FlyLoopResult",
    "LegacyArcus",
    "LegacyArcusError",
    "StepPointTiming",
    "run_fly_loop",
    "step_scan_point",
]
