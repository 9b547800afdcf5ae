"""The axis speeds a flyscan runs with: the bench's motion profile, checked against its mechanical limit.

The bench runs its axes at the profile of the shared configuration (the one the move plugin applies:
HS 1500 pulses/s, LS 10, ramps 300 ms), whatever the controller was left at (its factory HS is 1000
pulses/s, below the bench's 32.7 mm/s). A scan applies that profile to its two axes and restores the
previous one at its end. The fly speed may exceed the profile's high speed up to the configured
mechanical limit (the drives' fastest speed mode): the fast axis' high speed is then raised to the fly
speed for the scan. Anything above the limit is refused before any motion.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .config import FlyScanConfig
from .errors import InvalidScanConfig


@dataclass(frozen=True)
class SpeedProfile:
    """One axis' motion profile as the controller takes it: cruise and start/stop speeds, ramp times."""

    high_speed_pps: int
    low_speed_pps: int
    accel_ms: int
    decel_ms: int

    def as_kwargs(self) -> dict[str, int]:
        return {"high_speed_pps": int(self.high_speed_pps), "low_speed_pps": int(self.low_speed_pps),
                "accel_ms": int(self.accel_ms), "decel_ms": int(self.decel_ms)}


@dataclass(frozen=True)
class BenchSpeeds:
    """The bench's profile and the mechanical limit every speed must stay under (pulses/s)."""

    profile: SpeedProfile
    max_speed_pps: float

    def for_scan(self, config: FlyScanConfig) -> dict[str, SpeedProfile]:
        """The profile of each of the scan's axes; InvalidScanConfig (nothing sent) above the limit.

        A fly speed within the limit but above the profile's high speed raises the fast axis' high
        speed to it: the controller refuses a fly speed above its HS.
        """
        limit = float(self.max_speed_pps)
        step_mm = config.scale.step_mm
        p = self.profile
        if not (math.isfinite(limit) and limit > 0):
            raise InvalidScanConfig("max_speed_pps", f"the mechanical limit must be a positive number, got {limit!r}")
        if p.high_speed_pps > limit:
            raise InvalidScanConfig(
                "high_speed_pps", f"the configured high speed {p.high_speed_pps} pulses/s is above the mechanical "
                                  f"limit {limit:g} pulses/s ([arcus] high_speed_pps, max_speed_pps)")
        if not 1 <= p.low_speed_pps <= p.high_speed_pps:
            raise InvalidScanConfig(
                "low_speed_pps", f"the configured low speed {p.low_speed_pps} pulses/s must be in [1, high speed "
                                 f"{p.high_speed_pps}] pulses/s")
        fly_pps = config.speed_pps
        if fly_pps > limit * (1 + 1e-9):
            raise InvalidScanConfig("speed_mm_s", over_limit_message(config.speed_mm_s, fly_pps, limit, step_mm))
        if fly_pps <= p.low_speed_pps:
            raise InvalidScanConfig(
                "speed_mm_s", f"{config.speed_mm_s:g} mm/s is {fly_pps:.0f} pulses/s, not above the low speed "
                              f"{p.low_speed_pps} pulses/s ({p.low_speed_pps * step_mm:.3g} mm/s)")
        fast = SpeedProfile(max(p.high_speed_pps, math.ceil(fly_pps - 1e-6)), p.low_speed_pps, p.accel_ms, p.decel_ms)
        return {config.fast_axis: fast, config.slow_axis: p}


def over_limit_message(speed_mm_s: float, speed_pps: float, limit_pps: float, step_mm: float) -> str:
    return (f"{speed_mm_s:g} mm/s is {speed_pps:.0f} pulses/s, above the mechanical limit {limit_pps:g} pulses/s "
            f"({limit_pps * step_mm:.4g} mm/s at {step_mm * 1e3:g} µm/step; [arcus] max_speed_pps)")
