"""How the detector is paced, and what that means for a map: samples per cell, smear, advice.

Three cadences (the engine's `Cadence`): *triggered* (the engine triggers each sample at
`sample_rate_hz`: the virtual probe, a DAQ started by software), *back to back* (the detector
samples one after the other at its own pace: the board, whose rate its averaging sets) and
*hardware clocked* (an external sample clock). Only the triggered cadence has a trigger schedule,
so only it has trigger lateness and missed triggers.

The advice is plain arithmetic on the plan: a cell of the map is `pitch` long on the fast axis and
is flown in `pitch / speed` seconds, during which a detector giving `rate` samples a second takes
`pitch · rate / speed` samples; each sample averages over its window, smearing it along
`speed · window`. A cell wants at least two samples (one is a guess, two average) and a smear of
at most half a cell (beyond, neighbouring cells blur into each other).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .config import FlyScanConfig

#: Fewest samples a cell should get.
MIN_SAMPLES_PER_CELL = 2.0
#: Largest smear, as a fraction of the fast pitch.
MAX_SMEAR_CELLS = 0.5


def cadence_of(config: FlyScanConfig) -> str:
    """"triggered", "back_to_back" or "hardware_clocked" (the engine's stats `cadence`)."""
    if config.detector == "board" or config.trigger == "continuous":
        return "back_to_back"
    return "hardware_clocked" if config.trigger == "hardware" else "triggered"


@dataclass(frozen=True)
class PlanAdvice:
    """What a plan will give, before any motion."""

    cadence: str
    detector_rate_hz: float  # expected samples a second while flying
    window_s: float  # each sample's averaging window
    samples_per_cell: float  # expected samples per map cell along the fast axis
    smear_mm: float  # speed × window
    fast_pitch_mm: float
    speed_mm_s: float
    #: The fastest speed that gives every cell MIN_SAMPLES_PER_CELL and a smear ≤ half a cell.
    advised_max_speed_mm_s: float

    @property
    def too_few_samples(self) -> bool:
        return self.samples_per_cell < MIN_SAMPLES_PER_CELL

    @property
    def smear_too_wide(self) -> bool:
        return self.smear_mm > MAX_SMEAR_CELLS * self.fast_pitch_mm

    @property
    def warnings(self) -> list[str]:
        """One sentence per problem, each naming the speed that fixes it (empty when none)."""
        fix = f"fly at most {self.advised_max_speed_mm_s:.3g} mm/s (or use a coarser pitch)"
        out = []
        if self.too_few_samples:
            out.append(f"a cell of {self.fast_pitch_mm:.3g} mm would get {self.samples_per_cell:.2f} samples "
                       f"(fewer than {MIN_SAMPLES_PER_CELL:g}): {fix}")
        if self.smear_too_wide:
            out.append(f"each sample smears over {self.smear_mm:.3g} mm, more than half a cell "
                       f"({MAX_SMEAR_CELLS * self.fast_pitch_mm:.3g} mm): {fix}")
        return out

    def summary(self) -> str:
        window = f", {1e3 * self.window_s:.2f} ms averaging window" if self.window_s > 0 else ""
        cell = f"{self.fast_pitch_mm:.3g} mm cell at {self.speed_mm_s:g} mm/s"
        return (f"plan: {self.cadence.replace('_', ' ')} detector at ~{self.detector_rate_hz:.1f} Hz{window}; "
                f"{self.samples_per_cell:.1f} samples per {cell}, smear {self.smear_mm:.3g} mm")


def plan_advice(config: FlyScanConfig, detector_rate_hz: float, window_s: float) -> PlanAdvice:
    """Advice for `config` with a detector giving `detector_rate_hz` samples a second, each averaged
    over `window_s` (for the board: its timing model at `board_n_avg`; for a triggered detector: the
    trigger rate and its integration time)."""
    if not detector_rate_hz > 0:
        raise ValueError(f"detector_rate_hz must be positive, got {detector_rate_hz!r}")
    if not window_s >= 0:
        raise ValueError(f"window_s must be ≥ 0, got {window_s!r}")
    pitch, speed = config.fast_pitch_mm, config.speed_mm_s
    by_samples = pitch * detector_rate_hz / MIN_SAMPLES_PER_CELL
    by_smear = MAX_SMEAR_CELLS * pitch / window_s if window_s > 0 else float("inf")
    return PlanAdvice(
        cadence=cadence_of(config),
        detector_rate_hz=detector_rate_hz,
        window_s=window_s,
        samples_per_cell=pitch * detector_rate_hz / speed,
        smear_mm=speed * window_s,
        fast_pitch_mm=pitch,
        speed_mm_s=speed,
        advised_max_speed_mm_s=min(by_samples, by_smear),
    )


def sample_intervals_us(t_ns: np.ndarray, line: np.ndarray) -> np.ndarray:
    """Intervals between consecutive samples of the same line (µs), in flight order."""
    t = np.asarray(t_ns, dtype=np.int64)
    lines = np.asarray(line, dtype=np.int64)
    if t.size < 2:
        return np.empty(0)
    order = np.lexsort((t, lines))
    t, lines = t[order], lines[order]
    same_line = lines[1:] == lines[:-1]
    return np.diff(t)[same_line] * 1e-3


def interval_stats_us(intervals_us: np.ndarray) -> Optional[dict[str, float]]:
    """{"p50", "p99", "max"} of the intervals (µs), None when there are none."""
    values = np.asarray(intervals_us, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return {"p50": float(np.percentile(values, 50)), "p99": float(np.percentile(values, 99)),
            "max": float(values.max())}


def cell_count_stats(counts: np.ndarray, lines_done: Optional[int] = None) -> Optional[dict[str, float]]:
    """{"min", "mean"} samples per map cell over the lines flown (all rows when None)."""
    c = np.asarray(counts)
    if lines_done is not None:
        c = c[: max(0, min(int(lines_done), c.shape[0]))] if c.ndim == 2 else c
    if c.size == 0:
        return None
    return {"min": float(c.min()), "mean": float(c.mean())}
