"""A scan from request to results through a ScanPort's four verbs: `run_scan` (= `execute_scan`).

prepare → (FlyScanStarted) kickoff → while the scan flies: collect the samples, publish progress,
close each line (acquired, correlated) as soon as all its samples are in → at the end, the last
samples and the outcome give the results (complete, aborted or failed, partial when lines are
missing). Whatever goes wrong on this side (an observer, Ctrl-C), the port is aborted and the
scan's end awaited before the error goes on: the motors never keep flying.
"""
from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Optional

from .errors import InvalidTransition, ScanAborted
from .fly_scan import FlyScan, ScanStatus
from .recorder import FlyScanRecorder
from .results import ScanResults, with_baseline
from .samples import RawSamples, SampleFlag

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .ports import FlightProgress, ScanCompletion, ScanObserver, ScanOutcome, ScanPort


def run_scan(port: ScanPort, scan: FlyScan, observer: ScanObserver) -> ScanResults:
    """Prepare, kick off, follow and collect `scan` on `port`; returns its results."""
    flight = Flight(port, scan, observer)
    if not flight.prepare():
        return flight.finish()
    try:
        flight.kickoff()
        status = flight.status
        while True:
            tick_s = time.monotonic()
            progress = flight.follow()
            if progress.finished or status.done:
                break
            status.wait(max(0.0, port.progress_period_s - (time.monotonic() - tick_s)))
        return flight.finish()
    except BaseException:
        flight.abort_and_wait()
        raise


class Flight:
    """One scan through a port's four verbs, a step at a time: `run_scan` is its loop; a caller
    that paces the verbs itself (an orchestration framework's flyer) calls the same steps.

    prepare() → kickoff() → follow() at the progress period until the scan ends → finish().
    Every step keeps the FlyScan aggregate, its events and the samples of closed lines as
    run_scan does; `new_samples()` hands out the samples collected since its last call.
    """

    def __init__(self, port: ScanPort, scan: FlyScan, observer: ScanObserver) -> None:
        self.port = port
        self.scan = scan
        self.recorder = FlyScanRecorder(scan, observer, port.placement)
        self._closed = 0
        self._tail = _LineTail()
        self._fresh: list[RawSamples] = []
        self._results: Optional[ScanResults] = None
        self._kicked_off = False
        self._status: Optional[ScanCompletion] = None
        self._stopped_before_flight: Optional[str] = None

    @property
    def lines_closed(self) -> int:
        """Lines acquired and correlated so far (their samples are all in)."""
        return self._closed

    @property
    def results(self) -> Optional[ScanResults]:
        """The results once `finish()` has run."""
        return self._results

    def prepare(self) -> bool:
        """Prepare the port; False when an abort stopped the scan on its way to the start."""
        try:
            self.port.prepare(self.scan)
        except ScanAborted as err:
            self.recorder.begin(time.monotonic_ns())
            self._stopped_before_flight = str(err)
            return False
        return True

    def kickoff(self) -> None:
        self.recorder.begin(time.monotonic_ns())
        self._kicked_off = True
        with contextlib.suppress(ScanAborted):  # aborted while ready: the completion reports it
            self.port.kickoff()

    @property
    def status(self) -> ScanCompletion:
        """The port's completion of this scan (done when it has ended, with progress meanwhile)."""
        if self._status is None:
            self._status = self.port.complete()
        return self._status

    def follow(self) -> FlightProgress:
        """One tick: progress, then the samples collected, then the lines that have closed."""
        # Progress first, then collect: a line the executor counted done is then either fully
        # collected or still has samples in flight, which _LineTail tells apart.
        progress = self.status.progress()
        chunk = self._add(self.port.collect())
        self._tail.update(chunk)
        current = progress.current_line
        if progress.state == "flying" and 0 <= current < len(self.scan.lines):
            self.recorder.line_started(current)
        self._closed = _close_lines(self.scan, self.recorder, self._closed,
                                    min(progress.lines_done, self._tail.complete_below))
        self.recorder.progress(progress.state, current, progress.fast_mm, progress.slow_mm, progress.dropped_records)
        return progress

    def new_samples(self) -> RawSamples:
        """The samples collected since the last call, in acquisition order."""
        fresh, self._fresh = self._fresh, []
        return RawSamples.concat(fresh)

    def abort_and_wait(self) -> None:
        """Stop the scan (motors stopped) and wait for its end; `finish()` then keeps what was acquired."""
        self.port.abort()
        self.status.wait()

    def finish(self) -> ScanResults:
        """Once the scan has ended: the last samples, the last lines closed, the results (once)."""
        if self._results is None:
            try:
                outcome = self.status.outcome()
            except InvalidTransition:
                if self._stopped_before_flight is None:
                    raise
                # stopped before the port had the scan at all: nothing moved, nothing to collect
                outcome = _not_flown(self._stopped_before_flight)
            if self._kicked_off:
                # Samples placed after the last collect (the end of the last line) are still to come.
                self._add(self.port.collect())
                self._closed = _close_lines(self.scan, self.recorder, self._closed,
                                            int(outcome.stats.get("lines", self._closed)))
            results = _finish(self.recorder, outcome)
            if self.scan.config.differential:
                results = with_baseline(results, self.port.baseline_samples())
            self._results = results
        return self._results

    def _add(self, chunk: RawSamples) -> RawSamples:
        self.recorder.add_samples(chunk)
        if len(chunk):
            self._fresh.append(chunk)
        return chunk


def _close_lines(scan: FlyScan, recorder: FlyScanRecorder, closed: int, lines_done: int) -> int:
    for index in range(closed, min(lines_done, len(scan.lines))):
        samples = recorder.line_samples(index)
        t_start, t_end = (int(samples.t_ns.min()), int(samples.t_ns.max())) if len(samples) else (0, 0)
        recorder.line_finished(index, t_start, t_end)
    return max(closed, min(lines_done, len(scan.lines)))


def _not_flown(reason: str) -> ScanOutcome:
    from .ports import ScanOutcome

    return ScanOutcome(status=ScanStatus.ABORTED, stats={"status": "aborted", "lines": 0, "samples": 0}, error=reason)


def _finish(recorder: FlyScanRecorder, outcome: ScanOutcome) -> ScanResults:
    error = outcome.error
    if outcome.status is ScanStatus.ABORTED and error is None:
        error = "abort requested"
    return recorder.finish(
        outcome.status, outcome.stats, plan=outcome.plan, versions=outcome.versions, source=outcome.source,
        error=error, error_type=outcome.error_type,
    )


class _LineTail:
    """Which lines have all their samples collected: samples come in acquisition order, so a line is
    complete once its last-sample record, or any record of a later line, has come out."""

    def __init__(self) -> None:
        self.complete_below = 0

    def update(self, chunk: RawSamples) -> None:
        if not len(chunk):
            return
        self.complete_below = max(self.complete_below, int(chunk.line.max()))
        ended = chunk.line[chunk.has_flag(SampleFlag.LINE_LAST)]
        if ended.size:
            self.complete_below = max(self.complete_below, int(ended.max()) + 1)
