"""Figures of merit of a flyscan against a known truth (simulator runs): plain numpy."""
from __future__ import annotations

from typing import Optional

import numpy as np


def percentiles(values: np.ndarray, qs: tuple[float, ...] = (50.0, 99.0)) -> Optional[dict[str, float]]:
    """{"p50": …, "p99": …} of the finite values, None when there are none."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    return {f"p{q:g}": float(np.percentile(finite, q)) for q in qs}


def relative_rms_error(measured: np.ndarray, truth: np.ndarray) -> Optional[float]:
    """RMS of (measured − truth) over the cells measured, divided by the truth's full range.

    All channels count together (the range is that of every channel's truth), so small channels
    are not inflated by their own tiny range. None when no cell was measured.
    """
    measured, truth = np.asarray(measured, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if measured.shape != truth.shape:
        raise ValueError(f"measured {measured.shape} and truth {truth.shape} differ in shape")
    cells = np.isfinite(measured) & np.isfinite(truth)
    if not cells.any():
        return None
    span = float(np.ptp(truth[np.isfinite(truth)]))
    if span == 0:
        raise ValueError("the truth is flat: a relative error has no scale")
    return float(np.sqrt(np.mean((measured[cells] - truth[cells]) ** 2)) / span)
