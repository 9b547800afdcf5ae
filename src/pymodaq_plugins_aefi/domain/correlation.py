"""Correlation: giving every sample of a line the position where it was taken, then its map row.

Two placements exist:

* ENGINE_MODEL (the default): the position the engine's motion model gave the sample at its
  trigger instant (the commanded trapezoid fitted to time-stamped polls), carried in the record.
* LINE_ENDS: the legacy plan's `FlyScanCorrelationService` — assume constant speed along the line,
  position = start + (t − t_start)/(t_end − t_start)·(end − start), with only the line's first and
  last sample times and its planned ends. It is kept to measure the model against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from .config import FlyScanConfig
from .fly_scan import FlyScanLine
from .gridding import grid_samples
from .lag import positions_at_lag
from .samples import RawSamples


class Placement(str, Enum):
    ENGINE_MODEL = "engine_model"
    LINE_ENDS = "line_ends"


def place_by_line_ends(
    t_ns: np.ndarray, t_start_ns: int, t_end_ns: int, start_mm: float, end_mm: float
) -> np.ndarray:
    """Constant-speed interpolation between the line's ends (the legacy plan's correlation)."""
    if t_end_ns <= t_start_ns:
        raise ValueError(f"t_end_ns ({t_end_ns}) must be after t_start_ns ({t_start_ns})")
    fraction = (np.asarray(t_ns, dtype=np.float64) - float(t_start_ns)) / float(t_end_ns - t_start_ns)
    return start_mm + fraction * (end_mm - start_mm)


@dataclass(frozen=True)
class LineProfile:
    """One line on the map grid: six mean voltages per column and the sample count per column."""

    fast_axis_mm: np.ndarray
    profile_volts: np.ndarray  # (6, points_per_line)
    counts: np.ndarray  # (points_per_line,)
    fast_mm: np.ndarray  # where each sample was placed


class FlyScanCorrelationService:
    """Places a line's samples (by the chosen Placement) and grids them onto the map's columns."""

    def __init__(self, config: FlyScanConfig, placement: Placement = Placement.ENGINE_MODEL) -> None:
        self.config = config
        self.placement = Placement(placement)

    def place(self, line: FlyScanLine, samples: RawSamples) -> np.ndarray:
        """Fast-axis position (mm) of each sample of `line`: where the probe was at t − the configured
        detector lag (a lag measured from the data needs the whole scan: the final map applies it)."""
        if self.placement is Placement.ENGINE_MODEL or len(samples) < 2:
            placed = samples.fast_mm
        else:
            placed = place_by_line_ends(
                samples.t_ns, int(samples.t_ns.min()), int(samples.t_ns.max()), line.fast_from_mm, line.fast_to_mm
            )
        lag_ms = self.config.detector_lag_ms
        return placed if not lag_ms else positions_at_lag(samples, lag_ms, placed)

    def correlate(self, line: FlyScanLine, samples: RawSamples) -> LineProfile:
        fast_mm = self.place(line, samples)
        fast_axis = self.config.fast_axis_mm
        # The row is this line's by construction: the slow coordinate is the line's own position.
        gridded = grid_samples(
            fast_mm, np.full(fast_mm.shape, line.slow_mm), samples.channels_volts, fast_axis, np.array([line.slow_mm])
        )
        return LineProfile(fast_axis, gridded.volts[:, 0, :], gridded.counts[0], fast_mm)
