"""Fakes of the ports (cosmicpython style: subclass the port, record what happened).

FakeScanPort flies lines in zero time over a known analytic field, one line each time its completion
is waited on, through the four verbs of the port (so `execute_scan` is the real composition); it can
be told to abort or fail after a given line. FakeResultsRepository keeps results in memory;
RecordingObserver keeps the events.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from ..domain.errors import InvalidTransition, ScanAborted, ScanExecutionError
from ..domain.events import FlyScanEvent
from ..domain.fly_scan import FlyScan, FlyScanLine, ScanStatus
from ..domain.measurement import N_CHANNELS
from ..domain.ports import FlightProgress, ResultsRepository, ScanCompletion, ScanOutcome, ScanPort
from ..domain.results import ScanResults
from ..domain.samples import RawSamples, SampleFlag

FieldFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def bump_field(x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """A smooth known field (N, 6) for fakes: one Gaussian bump at (40, 30) mm, each channel scaled."""
    x, y = np.asarray(x_mm, dtype=float), np.asarray(y_mm, dtype=float)
    bump = np.exp(-((x - 40.0) ** 2 + (y - 30.0) ** 2) / (2 * 8.0**2))
    return np.stack([bump * (k + 1) * 0.1 for k in range(N_CHANNELS)], axis=1)


class FakeScanPort(ScanPort):
    """A ScanPort that 'flies' a line in zero time each time its completion is waited on, sampling
    `field` at exact positions.

    `after_line(index)` runs after each line (tests call abort from there); `abort_after_lines` /
    `fail_after_lines` end the scan after that many lines (a failure in the middle of the next
    line); `fail_with_nothing` makes `prepare` fail before any data; `abort_while_preparing` makes
    `prepare` end as a Stop pressed on the way to the start does.
    """

    def __init__(
        self,
        field: FieldFn = bump_field,
        after_line: Optional[Callable[[int], None]] = None,
        abort_after_lines: Optional[int] = None,
        fail_after_lines: Optional[int] = None,
        fail_with_nothing: bool = False,
        abort_while_preparing: bool = False,
    ) -> None:
        self.field = field
        self.after_line = after_line
        self.abort_after_lines = abort_after_lines
        self.fail_after_lines = fail_after_lines
        self.fail_with_nothing = fail_with_nothing
        self.abort_while_preparing = abort_while_preparing
        self.executed: list[FlyScan] = []
        self.abort_calls = 0
        self._abort = threading.Event()
        self._t_ns = 1_000_000_000
        self._seq = 0
        self._scan: Optional[FlyScan] = None
        self._state = "idle"
        self._next_line = 0
        self._pending: list[RawSamples] = []
        self._error: Optional[str] = None

    # ---- the verbs ----------------------------------------------------------------------------------
    def prepare(self, scan: FlyScan) -> None:
        if self.fail_with_nothing:
            raise ScanExecutionError("stage link lost before the first line")
        if self.abort_while_preparing:
            raise ScanAborted(f"scan {scan.id} aborted while preparing")
        self.executed.append(scan)
        self._abort.clear()
        self._scan, self._state, self._next_line, self._pending, self._error = scan, "ready", 0, [], None

    def kickoff(self) -> None:
        if self._state != "ready":
            raise InvalidTransition(f"kickoff needs a prepared scan; the port is {self._state}")
        self._state = "flying"

    def complete(self) -> ScanCompletion:
        if self._scan is None:
            raise InvalidTransition("no scan was prepared on this port")
        return _FakeCompletion(self)

    def collect(self) -> RawSamples:
        pending, self._pending = self._pending, []
        return RawSamples.concat(pending)

    def abort(self) -> None:
        self.abort_calls += 1
        self._abort.set()

    # ---- the zero-time flight -----------------------------------------------------------------------
    @property
    def _ended(self) -> bool:
        return self._state in ("completed", "aborted", "failed")

    def _step(self) -> None:
        """Flies the next line, or ends the scan."""
        scan = self._scan
        if scan is None or self._ended:
            return
        if self._abort.is_set():
            self._state = "aborted"
            return
        if self._state == "ready":
            return
        index = self._next_line
        if index == self.abort_after_lines:
            self._state = "aborted"
        elif index == self.fail_after_lines:
            if self._state == "failing":
                self._state, self._error = "failed", f"stall on line {index}"
            else:
                self._state = "failing"  # the line started: the failure comes mid-line
        elif index >= len(scan.lines):
            self._state = "completed"
        else:
            samples, _, _ = self._fly(scan, scan.lines[index])
            self._pending.append(samples)
            self._next_line = index + 1
            self._state = "between_lines"
            if self.after_line is not None:
                self.after_line(index)

    def _progress(self) -> FlightProgress:
        scan = self._scan
        lines = len(scan.lines) if scan is not None else 0
        current = min(self._next_line, max(0, lines - 1))
        state = "flying" if self._state == "failing" else self._state
        fast_mm = scan.lines[current].fast_to_mm if scan is not None and lines else 0.0
        slow_mm = scan.lines[current].slow_mm if scan is not None and lines else 0.0
        return FlightProgress(state, self._next_line, lines, current, self._seq, fast_mm, slow_mm, 0.0)

    def _outcome(self) -> ScanOutcome:
        status = {"completed": ScanStatus.COMPLETED, "aborted": ScanStatus.ABORTED}.get(self._state, ScanStatus.FAILED)
        stats: dict[str, Any] = {"status": status.value, "lines": self._next_line}
        return ScanOutcome(status, stats, error=self._error, plan={"fake": True}, source="fake://")

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


class _FakeCompletion(ScanCompletion):
    def __init__(self, port: FakeScanPort) -> None:
        self._port = port

    @property
    def done(self) -> bool:
        return self._port._ended

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        # time passes only here: each wait flies one more line (or ends the scan)
        self._port._step()
        return self.done

    def progress(self) -> FlightProgress:
        return self._port._progress()

    def outcome(self) -> ScanOutcome:
        while not self.done:
            self._port._step()
        return self._port._outcome()


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
