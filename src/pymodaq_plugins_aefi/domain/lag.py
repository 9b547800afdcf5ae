"""Detector lag: measured from the data, or configured, and compensated when gridding.

The detection chain (synchronous detection, then the ADC's digital filter) answers late: a sample
stamped t holds the field where the probe was at t − lag. Flying at v, every sample is shifted by
v·lag along its line, in opposite directions on the forward and backward lines of a serpentine:
the comb artifact. Placing each sample at the position the motion model gives for t − lag undoes it.

The lag is estimated from the scan itself: for each line whose neighbours on both sides were flown
the other way, the lag L that best superposes it on their mean once all three are placed at t − L
(the peak of their cross-correlation over the six channels, each detrended along the line; a
channel whose shape changes sign between the lines, as the in-plane field across a feature does,
counts by its magnitude). Averaging the two neighbours cancels, to first order, how the field
changes across the slow axis, which would otherwise bias a line-to-line comparison. The estimate is
the mean over lines, its uncertainty their standard error; it is applied when it exceeds twice its
uncertainty (a scan of two or three lines gives an estimate without uncertainty: recorded, not
applied). A unidirectional scan, a single line or lines without common structure give no estimate.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np

from .samples import RawSamples, SampleFlag

#: Longest lag searched (ms): far beyond any lock-in output filter a flyscan can use.
MAX_LAG_MS = 500.0
#: Fraction of the lines' common span the search may shift a line by.
MAX_SHIFT_FRACTION = 0.1
#: A line counts when its best superposition reaches this score (1: identical shapes).
MIN_LINE_SCORE = 0.8
#: Most lines matched against their neighbours for one estimate.
MAX_MATCHED_LINES = 32
#: An estimated lag is applied when it exceeds its uncertainty this many times (told from zero).
SIGNIFICANCE = 2.0
#: Candidates of the coarse search, then of the refinement around its best.
_COARSE_CANDIDATES = 81
_FINE_CANDIDATES = 21
#: Grid points per mm on which two lines are compared.
_GRID_PER_MM = 10.0
#: Structure (energy left after removing a line's straight fit) below this fraction of its energy is rounding.
_STRUCTURE_FLOOR = 1e-20


@dataclass(frozen=True)
class DetectorLag:
    """The detector lag a map was (or was not) compensated for.

    `source` is "estimated" (from the data), "configured" (given), or "unknown" (no estimate
    possible, nothing configured); `applied` says whether the map places samples at t − lag.
    """

    lag_ms: Optional[float]
    uncertainty_ms: Optional[float]
    source: str
    applied: bool
    lines_matched: int = 0  # lines the estimate rests on
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The flat record written to stats.json and the HDF5 file."""
        return {
            "detector_lag_ms": self.lag_ms,
            "detector_lag_uncertainty_ms": self.uncertainty_ms,
            "detector_lag_source": self.source,
            "detector_lag_applied": self.applied,
            "detector_lag_lines": self.lines_matched,
            "detector_lag_note": self.note,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DetectorLag:
        return cls(values.get("detector_lag_ms"), values.get("detector_lag_uncertainty_ms"),
                   str(values.get("detector_lag_source", "unknown")), bool(values.get("detector_lag_applied", False)),
                   int(values.get("detector_lag_lines", 0)), str(values.get("detector_lag_note", "")))

    @classmethod
    def none(cls, note: str = "") -> DetectorLag:
        return cls(None, None, "unknown", False, 0, note)


@dataclass(frozen=True)
class _Line:
    index: int
    fast_mm: np.ndarray  # bin centres of mass along the line (mm), as placed at the stamps
    channels: np.ndarray  # (n, 6), the bins' means
    speed_mm_s: float


def _usable(raw: RawSamples, fast_mm: np.ndarray) -> np.ndarray:
    bad = int(SampleFlag.DETECTOR_FAULT | SampleFlag.OUTSIDE_CONSTANT_SPEED)
    return ((raw.flags & np.uint32(bad)) == 0) & np.all(np.isfinite(raw.channels_volts), axis=1) & np.isfinite(fast_mm)


def _speed(t_s: np.ndarray, fast_mm: np.ndarray) -> float:
    """Least-squares speed of a line (mm/s), 0 when it cannot be told."""
    if t_s.size < 2 or np.ptp(t_s) <= 0:
        return 0.0
    t = t_s - t_s.mean()
    return float(np.dot(t, fast_mm - fast_mm.mean()) / np.dot(t, t))


def _binned(fast_mm: np.ndarray, channels: np.ndarray, bin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """A line's samples averaged in bins of `bin_mm` along its own positions: the matching's cost then
    depends on the line's length, not on how many samples a fast detector gave it."""
    index = np.floor((fast_mm - fast_mm.min()) / bin_mm).astype(np.int64)
    counts = np.bincount(index)
    filled = counts > 0
    mean = lambda values: (np.bincount(index, weights=values) / np.maximum(counts, 1))[filled]  # noqa: E731
    return mean(fast_mm), np.stack([mean(channels[:, c]) for c in range(channels.shape[1])], axis=1)


def _lines(raw: RawSamples, fast_mm: np.ndarray) -> list[_Line]:
    if not len(raw):
        return []
    keep = _usable(raw, fast_mm)
    t0 = int(raw.t_ns.min())
    out = []
    for index in np.unique(raw.line[keep]):
        mask = keep & (raw.line == index)
        order = np.argsort(raw.t_ns[mask], kind="stable")
        t_s = (raw.t_ns[mask][order] - t0) * 1e-9
        fast = fast_mm[mask][order]
        speed = _speed(t_s, fast)
        binned_mm, binned_volts = _binned(fast, raw.channels_volts[mask][order], 0.5 / _GRID_PER_MM)
        out.append(_Line(int(index), binned_mm, binned_volts, speed))
    return out


def _detrended(profile: np.ndarray, grid_mm: np.ndarray) -> np.ndarray:
    """Each channel of a (6, n) profile minus its least-squares line along the grid."""
    g = grid_mm - grid_mm.mean()
    slope = profile @ g / np.dot(g, g)
    return profile - profile.mean(axis=1, keepdims=True) - slope[:, None] * g[None, :]


def _profile(line: _Line, lag_s: float, grid_mm: np.ndarray) -> np.ndarray:
    """The line's channels on the grid (linear interpolation), its samples placed at t − lag."""
    x = line.fast_mm - line.speed_mm_s * lag_s
    order = np.argsort(x, kind="stable")
    x, values = x[order], line.channels[order]
    return np.stack([np.interp(grid_mm, x, values[:, c]) for c in range(values.shape[1])])


def _score(line: _Line, neighbours: list[_Line], lag_s: float, grid_mm: np.ndarray) -> float:
    """How well a line superposes on its neighbours' mean once all are placed at t − lag (≤ 1; 0
    when either is a straight line along the grid, which no shift changes)."""
    raw_a = _profile(line, lag_s, grid_mm)
    raw_b = np.mean([_profile(n, lag_s, grid_mm) for n in neighbours], axis=0)
    pa, pb = _detrended(raw_a, grid_mm), _detrended(raw_b, grid_mm)
    ea, eb = float(np.sum(pa * pa)), float(np.sum(pb * pb))
    # what is left of a straight line after removing its fit is rounding: no structure to match
    floor = _STRUCTURE_FLOOR * max(float(np.sum(raw_a * raw_a)), float(np.sum(raw_b * raw_b)))
    if ea <= floor or eb <= floor:
        return 0.0
    return float(np.sum(np.abs(np.sum(pa * pb, axis=1)))) / math.sqrt(ea * eb)


def _best(line: _Line, neighbours: list[_Line], candidates_s: np.ndarray, grid_mm: np.ndarray
          ) -> tuple[int, np.ndarray]:
    scores = np.array([_score(line, neighbours, lag, grid_mm) for lag in candidates_s])
    return int(np.argmax(scores)), scores


def line_lag_s(line: _Line, neighbours: list[_Line]) -> Optional[tuple[float, float]]:
    """The lag (s) that best superposes a line on its neighbours flown the other way, and its score;
    None when they share too little span or structure.

    With a neighbour on each side, the neighbours' mean stands for the field along the line itself
    (its change across the slow axis cancels to first order); with one, the field's change between
    the two lines biases the result.
    """
    if any(line.speed_mm_s * n.speed_mm_s >= 0 for n in neighbours):
        return None
    speed = max(abs(line.speed_mm_s), *(abs(n.speed_mm_s) for n in neighbours))
    low = max(line.fast_mm.min(), *(n.fast_mm.min() for n in neighbours))
    high = min(line.fast_mm.max(), *(n.fast_mm.max() for n in neighbours))
    if high <= low:
        return None
    max_lag_s = min(MAX_LAG_MS * 1e-3, MAX_SHIFT_FRACTION * (high - low) / speed)
    margin_mm = speed * max_lag_s
    grid_low, grid_high = low + margin_mm, high - margin_mm
    if grid_high - grid_low <= 0:
        return None
    grid_mm = np.linspace(grid_low, grid_high, max(16, int((grid_high - grid_low) * _GRID_PER_MM)))
    coarse = np.linspace(-max_lag_s, max_lag_s, _COARSE_CANDIDATES)
    i, _ = _best(line, neighbours, coarse, grid_mm)
    if i in (0, coarse.size - 1):
        return None  # the best superposition is at the search's edge: no lag found inside it
    step = coarse[1] - coarse[0]
    fine = np.linspace(coarse[i] - step, coarse[i] + step, _FINE_CANDIDATES)
    j, scores = _best(line, neighbours, fine, grid_mm)
    lag, best = fine[j], scores[j]
    if 0 < j < fine.size - 1:
        # the vertex of the parabola through the best candidate and its neighbours
        s0, s1, s2 = scores[j - 1], scores[j], scores[j + 1]
        curvature = s0 - 2 * s1 + s2
        if curvature < 0:
            lag += 0.5 * (s0 - s2) / curvature * (fine[1] - fine[0])
    if best < MIN_LINE_SCORE:
        return None
    return float(lag), float(best)


def estimate_lag(raw: RawSamples, fast_mm: Optional[np.ndarray] = None) -> DetectorLag:
    """The detector lag measured from neighbouring lines of opposite direction (not applied yet).

    Every line with a neighbour flown the other way on each side is matched against their mean;
    a scan of two lines has only its one pair.
    """
    placed = raw.fast_mm if fast_mm is None else np.asarray(fast_mm, dtype=np.float64)
    lines = {line.index: line for line in _lines(raw, placed)}
    groups = [(line, [lines[line.index - 1], lines[line.index + 1]]) for line in lines.values()
              if line.index - 1 in lines and line.index + 1 in lines]
    if not groups and len(lines) == 2:
        first, second = sorted(lines.values(), key=lambda line: line.index)
        if second.index == first.index + 1:
            groups = [(first, [second])]
    groups = [(line, neighbours) for line, neighbours in groups
              if all(line.speed_mm_s * n.speed_mm_s < 0 for n in neighbours)]
    if len(groups) > MAX_MATCHED_LINES:
        # evenly over the raster: the estimate's cost stays bounded on a large map
        groups = [groups[int(k)] for k in np.linspace(0, len(groups) - 1, MAX_MATCHED_LINES).round()]
    if not groups:
        return DetectorLag.none("no neighbouring lines flown in opposite directions (a serpentine of 2 lines or "
                                "more is needed to measure the lag)")
    lags_s = [found[0] for found in (line_lag_s(line, neighbours) for line, neighbours in groups) if found is not None]
    if not lags_s:
        return DetectorLag.none(f"none of the {len(groups)} lines shares enough structure with its neighbours to "
                                "measure the lag")
    lags_ms = np.asarray(lags_s) * 1e3
    uncertainty = float(np.std(lags_ms, ddof=1) / math.sqrt(lags_ms.size)) if lags_ms.size >= 2 else None
    note = "" if uncertainty is not None else "one line matched: no spread to judge the uncertainty by"
    return DetectorLag(float(lags_ms.mean()), uncertainty, "estimated", False, int(lags_ms.size), note)


def positions_at_lag(raw: RawSamples, lag_ms: float, fast_mm: Optional[np.ndarray] = None) -> np.ndarray:
    """Fast-axis position of each sample at t − lag, from its line's placed positions (mm).

    Within a line the positions are interpolated in time; before its first sample (or after its
    last, for a negative lag) they are extrapolated at the line's speed. A line of one sample keeps
    its position.
    """
    placed = raw.fast_mm if fast_mm is None else np.asarray(fast_mm, dtype=np.float64)
    out = placed.copy()
    if lag_ms == 0 or not len(raw):
        return out
    t0 = int(raw.t_ns.min())
    t_all = (raw.t_ns - t0) * 1e-9
    finite = np.isfinite(placed)
    for index in np.unique(raw.line):
        in_line = raw.line == index
        known = in_line & finite
        if np.count_nonzero(known) < 2:
            continue
        order = np.argsort(t_all[known], kind="stable")
        t, x = t_all[known][order], placed[known][order]
        speed = _speed(t, x)
        target = t_all[in_line] - lag_ms * 1e-3
        moved = np.interp(target, t, x)
        moved = np.where(target < t[0], x[0] + speed * (target - t[0]), moved)
        moved = np.where(target > t[-1], x[-1] + speed * (target - t[-1]), moved)
        out[in_line] = np.where(np.isfinite(placed[in_line]), moved, placed[in_line])
    return out


def resolve_lag(raw: RawSamples, configured_ms: Optional[float], fast_mm: Optional[np.ndarray] = None
                ) -> tuple[DetectorLag, np.ndarray]:
    """The lag a map is gridded with and the positions it gives (mm).

    A configured lag is applied as given (0: no compensation). Otherwise the lag is estimated and
    applied when the data tell it from zero: an uncertainty is known (at least two lines matched)
    and the lag exceeds it `SIGNIFICANCE` times; else the positions stay as placed and the record
    says why.
    """
    placed = raw.fast_mm if fast_mm is None else np.asarray(fast_mm, dtype=np.float64)
    if configured_ms is not None:
        lag = DetectorLag(float(configured_ms), None, "configured", configured_ms != 0, 0, "")
        return lag, positions_at_lag(raw, lag.lag_ms or 0.0, placed)
    lag = estimate_lag(raw, placed)
    if lag.lag_ms is None:
        return lag, placed
    if lag.uncertainty_ms is None:
        return replace(lag, note=f"{lag.note}; not applied"), placed
    if abs(lag.lag_ms) < SIGNIFICANCE * lag.uncertainty_ms:
        note = f"not applied: within {SIGNIFICANCE:g} × its uncertainty of zero"
        return replace(lag, note=note), placed
    return replace(lag, applied=True), positions_at_lag(raw, lag.lag_ms, placed)
