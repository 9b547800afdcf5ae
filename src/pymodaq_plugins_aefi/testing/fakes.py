"""Fakes of the ports (cosmicpython style: subclass the port, record what happened).

FakeScanPort flies lines in zero time over a known analytic field, driving the FlyScan aggregate
through FlyScanRecorder exactly as the real adapter does; it can be told to abort or fail after a
given line. FakeResultsRepository keeps results in memory; RecordingObserver keeps the events.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Optional

import numpy as np

from ..domain.errors import ScanExecutionError
from ..domain.events import FlyScanEvent
from ..domain.fly_scan import FlyScan, FlyScanLine, ScanStatus
from ..domain.measurement import N_CHANNELS
from ..domain.ports import ResultsRepository, ScanObserver, ScanPort
from ..domain.recorder import FlyScanRecorder
from ..domain.results import ScanResults
from ..domain.samples import RawSamples, SampleFlag

FieldFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def bump_field(x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """A smooth known field (N, 6) for fakes: one Gaussian bump at (40, 30) mm, each channel scaled."""
    x, y = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
    bump = np.exp(-((x - 40.0) ** 2 + (y - 30.0) ** 2) / (2 * 8.0**2))
    return np.stack([bump * (k + 1) * 0.1 for k in range(N_CHANNELS)], axis=1)


class FakeScanPort(ScanPort):
    """A ScanPort that 'flies' each line instantly and samples `field` at exact positions.

    `after_line(index)` runs after each line (tests call abort from there); `abort_after_lines` /
    `fail_after_lines` end the scan after that many lines; `fail_with_nothing` raises before any data.
    """

    def __init__(
        self,
        field: FieldFn = bump_field,
        after_line: Optional[Callable[[int], None]] = None,
        abort_after_lines: Optional[int] = None,
        fail_after_lines: Optional[int] = None,
        fail_with_nothing: bool = False,
    ) -> None:
        self.field = field
        self.after_line = after_line
        self.abort_after_lines = abort_after_lines
        self.fail_after_lines = fail_after_lines
        self.fail_with_nothing = fail_with_nothing
        self.executed: list[FlyScan] = []
        self.abort_calls = 0
        self._abort = threading.Event()
        self._t_ns = 1_000_000_000
        self._seq = 0

    def abort(self) -> None:
        self.abort_calls += 1
        self._abort.set()

    def execute_scan(self, scan: FlyScan, observer: ScanObserver) -> ScanResults:
        self.executed.append(scan)
        self._abort.clear()
        if self.fail_with_nothing:
            raise ScanExecutionError("stage link lost before the first line")
        recorder = FlyScanRecorder(scan, observer)
        recorder.begin(self._t_ns)
        stats = {"status": "completed"}
        for line in scan.lines:
            if self._abort.is_set() or line.index == self.abort_after_lines:
                return recorder.finish(ScanStatus.ABORTED, {"status": "aborted"}, source="fake://")
            if line.index == self.fail_after_lines:
                message = f"stall on line {line.index}"
                recorder.line_started(line.index)
                results = recorder.finish(ScanStatus.FAILED, {"status": "failed"}, source="fake://", error=message)
                raise ScanExecutionError(message, results)
            recorder.line_started(line.index)
            samples, t_start, t_end = self._fly(scan, line)
            recorder.add_samples(samples)
            recorder.line_finished(line.index, t_start, t_end)
            recorder.progress("between_lines", line.index, line.fast_to_mm, line.slow_mm)
            if self.after_line is not None:
                self.after_line(line.index)
        return recorder.finish(ScanStatus.COMPLETED, stats, plan={"fake": True}, source="fake://")

    def _fly(self, scan: FlyScan, line: FlyScanLine) -> tuple[RawSamples, int, int]:
        config = scan.config
        n = max(2, int(round(config.fast_span_mm / config.sample_spacing_mm)) + 1)
        fast = np.linspace(line.fast_from_mm, line.fast_to_mm, n)
        slow = np.full(n, line.slow_mm)
        period_ns = int(1e9 / config.sample_rate_hz)
        t_ns = self._t_ns + period_ns * np.arange(n, dtype=np.int64)
        x, y = (fast, slow) if config.fast_axis == "X" else (slow, fast)
        flags = np.full(n, int(SampleFlag.ESTIMATED), dtype=np.uint32)
        flags[0] |= SampleFlag.LINE_FIRST
        flags[-1] |= SampleFlag.LINE_LAST
        samples = RawSamples(
            seq=self._seq + np.arange(n),
            t_ns=t_ns,
            line=np.full(n, line.index),
            fast_mm=fast,
            slow_mm=slow,
            pos_err_mm=np.zeros(n),
            flags=flags,
            channels_volts=self.field(x, y),
        )
        self._seq += n
        self._t_ns = int(t_ns[-1]) + 100_000_000
        return samples, int(t_ns[0]), int(t_ns[-1])


class FakeResultsRepository(ResultsRepository):
    def __init__(self, fail_on_save: bool = False) -> None:
        self.saved: dict[str, ScanResults] = {}
        self.fail_on_save = fail_on_save

    def save(self, results: ScanResults) -> str:
        if self.fail_on_save:
            raise OSError("disk full")
        location = f"memory://{results.scan_id}"
        self.saved[location] = results
        return location

    def load(self, location: str) -> ScanResults:
        try:
            return self.saved[location]
        except KeyError:
            raise FileNotFoundError(f"no results at {location}; saved: {sorted(self.saved)}") from None


class RecordingObserver:
    """A ScanObserver that keeps every event it receives."""

    def __init__(self) -> None:
        self.events: list[FlyScanEvent] = []

    def on_event(self, event: FlyScanEvent) -> None:
        self.events.append(event)

    def of_type(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]
