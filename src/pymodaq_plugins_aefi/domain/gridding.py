"""Gridding: scattered samples (position, six voltages) → a regular map by position.

Each map cell is centred on a grid point and reaches half a pitch to each side; a sample falls in
the cell whose centre is nearest along each axis, and samples beyond the outer half-pitch are
counted as outside. A cell's value is the mean of the finite samples in it; cells with no sample
are NaN, and the per-cell count says how much each value rests on.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .measurement import N_CHANNELS


def cell_index(positions_mm: np.ndarray, centres_mm: np.ndarray) -> np.ndarray:
    """Index of the cell holding each position on a regular axis, -1 outside it.

    `centres_mm` is evenly spaced, ascending or descending. A one-point axis takes every finite
    position (a single line has no neighbour to share the slow axis with).
    """
    positions = np.asarray(positions_mm, dtype=np.float64)
    centres = np.asarray(centres_mm, dtype=np.float64)
    n = centres.size
    if n == 0:
        raise ValueError("centres_mm must hold at least one grid point")
    finite = np.isfinite(positions)
    if n == 1:
        return np.where(finite, 0, -1).astype(np.int64)
    pitch = (centres[-1] - centres[0]) / (n - 1)
    if pitch == 0:
        raise ValueError("centres_mm must be distinct points of a regular axis")
    scaled = np.where(finite, (positions - centres[0]) / pitch, -1.0)
    index = np.floor(scaled + 0.5).astype(np.int64)
    return np.where(finite & (index >= 0) & (index < n), index, -1)


@dataclass(frozen=True)
class GriddedMap:
    """A regular map: rows along the slow axis, columns along the fast axis, six channels."""

    fast_axis_mm: np.ndarray  # (n_fast,) column centres
    slow_axis_mm: np.ndarray  # (n_slow,) row centres
    volts: np.ndarray = field(repr=False)  # (6, n_slow, n_fast), NaN where no sample
    counts: np.ndarray = field(repr=False)  # (n_slow, n_fast) samples averaged per cell
    outside: int = 0  # samples that fell beyond the grid

    @property
    def shape(self) -> tuple[int, int]:
        return (self.slow_axis_mm.size, self.fast_axis_mm.size)

    @property
    def filled_fraction(self) -> float:
        return float(np.count_nonzero(self.counts)) / self.counts.size if self.counts.size else 0.0

    def row(self, index: int) -> np.ndarray:
        """One line's profile, (6, n_fast)."""
        return self.volts[:, index, :]

    @classmethod
    def empty(cls, fast_axis_mm: np.ndarray, slow_axis_mm: np.ndarray) -> GriddedMap:
        shape = (np.asarray(slow_axis_mm).size, np.asarray(fast_axis_mm).size)
        return cls(
            np.asarray(fast_axis_mm, dtype=np.float64),
            np.asarray(slow_axis_mm, dtype=np.float64),
            np.full((N_CHANNELS,) + shape, np.nan),
            np.zeros(shape, dtype=np.int64),
        )


def grid_samples(
    fast_mm: np.ndarray,
    slow_mm: np.ndarray,
    channels_volts: np.ndarray,
    fast_axis_mm: np.ndarray,
    slow_axis_mm: np.ndarray,
) -> GriddedMap:
    """Average samples into the cells of the regular grid (fast_axis_mm × slow_axis_mm).

    Samples whose channels are not all finite (detector fault) are left out of both the mean
    and the counts.
    """
    fast = np.asarray(fast_mm, dtype=np.float64).ravel()
    slow = np.asarray(slow_mm, dtype=np.float64).ravel()
    channels = np.asarray(channels_volts, dtype=np.float64).reshape(-1, N_CHANNELS)
    if not fast.size == slow.size == channels.shape[0]:
        raise ValueError(
            f"fast_mm ({fast.size}), slow_mm ({slow.size}) and channels_volts ({channels.shape[0]} rows) "
            "differ in length"
        )
    fast_axis = np.asarray(fast_axis_mm, dtype=np.float64)
    slow_axis = np.asarray(slow_axis_mm, dtype=np.float64)
    n_slow, n_fast = slow_axis.size, fast_axis.size
    col = cell_index(fast, fast_axis)
    row = cell_index(slow, slow_axis)
    placed = (col >= 0) & (row >= 0)
    valid = placed & np.all(np.isfinite(channels), axis=1)
    flat = row[valid] * n_fast + col[valid]
    n_cells = n_slow * n_fast
    counts = np.bincount(flat, minlength=n_cells)
    sums = np.stack([np.bincount(flat, weights=channels[valid, c], minlength=n_cells) for c in range(N_CHANNELS)])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    return GriddedMap(
        fast_axis,
        slow_axis,
        means.reshape(N_CHANNELS, n_slow, n_fast),
        counts.reshape(n_slow, n_fast).astype(np.int64),
        int(np.count_nonzero(~placed)),
    )
