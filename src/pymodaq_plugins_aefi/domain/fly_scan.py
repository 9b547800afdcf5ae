"""The FlyScan aggregate and its FlyScanLine entities: the life cycle of one raster flyscan.

A line goes PENDING → IN_PROGRESS → ACQUIRED → CORRELATED, or to FAILED from any unfinished state.
The scan goes PENDING → RUNNING → COMPLETED | ABORTED | FAILED (no pause: a flyscan line cannot be
paused mid-flight). Every accepted change returns the event that records it; a forbidden change
raises InvalidTransition and changes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Optional

import numpy as np

from .config import FlyScanConfig
from .errors import InvalidTransition
from .events import (
    FlyScanAborted,
    FlyScanCompleted,
    FlyScanFailed,
    FlyScanLineAcquired,
    FlyScanLineCorrelated,
    FlyScanStarted,
)

_SCAN_ID = re.compile(r"^scan_\d{8}_\d{6}(_\d+)?$")


@dataclass(frozen=True)
class ScanId:
    """`scan_YYYYMMDD_HHMMSS` (UTC), optionally with a `_N` suffix when two scans share a second."""

    value: str

    def __post_init__(self) -> None:
        if not _SCAN_ID.match(self.value):
            raise ValueError(f"scan id must look like scan_YYYYMMDD_HHMMSS, got {self.value!r}")

    @classmethod
    def new(cls, now: Optional[datetime] = None) -> ScanId:
        now = now or datetime.now(timezone.utc)
        return cls(now.strftime("scan_%Y%m%d_%H%M%S"))

    def __str__(self) -> str:
        return self.value


class ScanStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    ABORTED = "aborted"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (ScanStatus.COMPLETED, ScanStatus.ABORTED, ScanStatus.FAILED)


class LineState(str, Enum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ACQUIRED = "acquired"
    CORRELATED = "correlated"
    FAILED = "failed"


@dataclass
class FlyScanLine:
    """One fly line of the fast axis at a fixed slow-axis position."""

    index: int
    slow_mm: float
    fast_from_mm: float
    fast_to_mm: float
    state: LineState = LineState.PENDING
    t_start_ns: Optional[int] = None
    t_end_ns: Optional[int] = None
    samples: int = 0

    @property
    def done(self) -> bool:
        """Acquired (correlated or not): its samples belong to the results."""
        return self.state in (LineState.ACQUIRED, LineState.CORRELATED)

    def _require(self, *states: LineState) -> None:
        if self.state not in states:
            allowed = " or ".join(s.name for s in states)
            raise InvalidTransition(f"line {self.index} is {self.state.name}, expected {allowed}")

    def start(self) -> None:
        self._require(LineState.PENDING)
        self.state = LineState.IN_PROGRESS

    def acquired(self, t_start_ns: int, t_end_ns: int, samples: int) -> None:
        self._require(LineState.IN_PROGRESS)
        if t_end_ns < t_start_ns:
            raise InvalidTransition(f"line {self.index} ends ({t_end_ns} ns) before it starts ({t_start_ns} ns)")
        self.t_start_ns, self.t_end_ns, self.samples = int(t_start_ns), int(t_end_ns), int(samples)
        self.state = LineState.ACQUIRED

    def correlated(self) -> None:
        self._require(LineState.ACQUIRED)
        self.state = LineState.CORRELATED

    def fail(self) -> None:
        self._require(LineState.PENDING, LineState.IN_PROGRESS)
        self.state = LineState.FAILED


class FlyScan:
    """The aggregate: one scan's identity, its config, its lines and its status."""

    def __init__(self, config: FlyScanConfig, scan_id: Optional[ScanId] = None) -> None:
        self.config = config
        self.scan_id = scan_id or ScanId.new()
        self.status = ScanStatus.PENDING
        self.started_ns: Optional[int] = None
        fast = (config.fast_start_mm, config.fast_stop_mm)
        self.lines = [
            FlyScanLine(i, float(slow), *(fast if config.line_direction(i) > 0 else fast[::-1]))
            for i, slow in enumerate(config.slow_axis_mm)
        ]

    @property
    def id(self) -> str:
        return self.scan_id.value

    @property
    def lines_done(self) -> int:
        return sum(line.done for line in self.lines)

    @property
    def samples(self) -> int:
        return sum(line.samples for line in self.lines if line.done)

    def line(self, index: int) -> FlyScanLine:
        if not 0 <= index < len(self.lines):
            raise InvalidTransition(f"line {index} does not exist (0..{len(self.lines) - 1})")
        return self.lines[index]

    def _require_running(self) -> None:
        if self.status is not ScanStatus.RUNNING:
            raise InvalidTransition(f"scan {self.id} is {self.status.name}, not RUNNING")

    def start(self, t_ns: int) -> FlyScanStarted:
        if self.status is not ScanStatus.PENDING:
            raise InvalidTransition(f"scan {self.id} is {self.status.name}; a scan runs once")
        self.status, self.started_ns = ScanStatus.RUNNING, int(t_ns)
        return FlyScanStarted(self.id, self.config, len(self.lines), int(t_ns))

    def start_line(self, index: int) -> None:
        self._require_running()
        self.line(index).start()

    def line_acquired(self, index: int, t_start_ns: int, t_end_ns: int, samples: int) -> FlyScanLineAcquired:
        self._require_running()
        self.line(index).acquired(t_start_ns, t_end_ns, samples)
        return FlyScanLineAcquired(self.id, index, int(samples), int(t_start_ns), int(t_end_ns))

    def line_correlated(
        self, index: int, fast_axis_mm: np.ndarray, profile_volts: np.ndarray, counts: np.ndarray
    ) -> FlyScanLineCorrelated:
        # A line acquired just before an abort may still be correlated while the scan winds down.
        line = self.line(index)
        line.correlated()
        return FlyScanLineCorrelated(self.id, index, line.slow_mm, fast_axis_mm, profile_volts, counts)

    def complete(self, wall_time_s: float) -> FlyScanCompleted:
        self._require_running()
        unfinished = [line.index for line in self.lines if not line.done]
        if unfinished:
            raise InvalidTransition(f"scan {self.id} cannot complete: lines {unfinished} not acquired")
        self.status = ScanStatus.COMPLETED
        return FlyScanCompleted(self.id, len(self.lines), self.samples, float(wall_time_s))

    def abort(self, reason: str = "abort requested") -> FlyScanAborted:
        self._require_running()
        self._fail_unfinished_lines()
        self.status = ScanStatus.ABORTED
        return FlyScanAborted(self.id, self.lines_done, self.samples, reason)

    def fail(self, error: str, error_type: Optional[str] = None) -> FlyScanFailed:
        if self.status.finished:
            raise InvalidTransition(f"scan {self.id} already finished ({self.status.name})")
        self._fail_unfinished_lines()
        self.status = ScanStatus.FAILED
        return FlyScanFailed(self.id, self.lines_done, error, error_type)

    def _fail_unfinished_lines(self) -> None:
        # Only the line in flight is lost; lines never started stay PENDING (nothing was tried).
        for line in self.lines:
            if line.state is LineState.IN_PROGRESS:
                line.fail()
