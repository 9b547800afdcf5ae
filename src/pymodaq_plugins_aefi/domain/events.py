"""Domain events of a flyscan (the names of the legacy plan: FlyScanStarted … FlyScanCompleted).

Events are immutable facts, published to ScanObservers in the order they happened. Each has a
`topic` (the lowercased class name, as in the legacy event bus).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .config import FlyScanConfig
from .samples import RawSamples


@dataclass(frozen=True)
class FlyScanEvent:
    """Base of every flyscan event."""

    scan_id: str

    @property
    def topic(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class FlyScanStarted(FlyScanEvent):
    config: FlyScanConfig
    lines_total: int
    t_ns: int


@dataclass(frozen=True)
class FlyScanProgress(FlyScanEvent):
    """Where the scan is; published several times a second while it runs."""

    state: str
    lines_done: int
    lines_total: int
    current_line: int
    samples: int
    fast_mm: float
    slow_mm: float
    elapsed_s: float
    dropped_records: int = 0

    @property
    def fraction(self) -> float:
        return self.lines_done / self.lines_total if self.lines_total else 0.0


@dataclass(frozen=True)
class FlyScanLineAcquired(FlyScanEvent):
    """All raw samples of one line are in (positions as the engine estimated them, not yet gridded)."""

    line: int
    samples: int
    t_start_ns: int
    t_end_ns: int


@dataclass(frozen=True)
class FlyScanLineSamples(FlyScanEvent):
    """Every sample of one line, once it is in: `partial` for the line a scan's end interrupted.

    What a journal appends to disk line by line, so that a crash loses at most the line in flight.
    """

    line: int
    samples: RawSamples = field(repr=False, compare=False)
    partial: bool = False


@dataclass(frozen=True)
class FlyScanLineCorrelated(FlyScanEvent):
    """One line placed on the map grid: its profile, ready to draw as a map row."""

    line: int
    slow_mm: float
    fast_axis_mm: np.ndarray = field(repr=False, compare=False)
    profile_volts: np.ndarray = field(repr=False, compare=False)  # (6, points_per_line), NaN where empty
    counts: np.ndarray = field(repr=False, compare=False)  # (points_per_line,) samples per cell


@dataclass(frozen=True)
class FlyScanCompleted(FlyScanEvent):
    lines: int
    samples: int
    wall_time_s: float


@dataclass(frozen=True)
class FlyScanAborted(FlyScanEvent):
    lines_done: int
    samples: int
    reason: str = "abort requested"


@dataclass(frozen=True)
class FlyScanFailed(FlyScanEvent):
    lines_done: int
    error: str
    error_type: Optional[str] = None


@dataclass(frozen=True)
class FlyScanSaved(FlyScanEvent):
    """The results were written by the repository (complete or partial)."""

    location: str
    status: str
    partial: bool
