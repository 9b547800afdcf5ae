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
from typing import TYPE_CHECKING

from .errors import ScanAborted
from .fly_scan import FlyScan, ScanStatus
from .recorder import FlyScanRecorder
from .results import ScanResults
from .samples import RawSamples, SampleFlag

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .ports import ScanCompletion, ScanObserver, ScanOutcome, ScanPort


def run_scan(port: ScanPort, scan: FlyScan, observer: ScanObserver) -> ScanResults:
    """Prepare, kick off, follow and collect `scan` on `port`; returns its results."""
    recorder = FlyScanRecorder(scan, observer, port.placement)
    try:
        port.prepare(scan)
    except ScanAborted:
        # Stopped on its way to the start: an aborted scan without lines, still reported and saved.
        recorder.begin(time.monotonic_ns())
        return _finish(recorder, port.complete().outcome())
    try:
        recorder.begin(time.monotonic_ns())
        with contextlib.suppress(ScanAborted):  # aborted while ready: the completion reports it
            port.kickoff()
        status = port.complete()
        closed = _follow(port, status, scan, recorder)
        outcome = status.outcome()
        # Samples placed after the last collect (the end of the last line) are still to come.
        recorder.add_samples(port.collect())
        _close_lines(scan, recorder, closed, int(outcome.stats.get("lines", closed)))
    except BaseException:
        port.abort()
        port.complete().wait()
        raise
    return _finish(recorder, outcome)


def _follow(port: ScanPort, status: ScanCompletion, scan: FlyScan, recorder: FlyScanRecorder) -> int:
    """Collect and publish until the scan ends; returns the lines closed so far."""
    closed = 0
    tail = _LineTail()
    while True:
        tick_s = time.monotonic()
        # Progress first, then collect: a line the executor counted done is then either fully
        # collected or still has samples in flight, which _LineTail tells apart.
        progress = status.progress()
        chunk = port.collect()
        recorder.add_samples(chunk)
        tail.update(chunk)
        current = progress.current_line
        if progress.state == "flying" and 0 <= current < len(scan.lines):
            recorder.line_started(current)
        closed = _close_lines(scan, recorder, closed, min(progress.lines_done, tail.complete_below))
        recorder.progress(progress.state, current, progress.fast_mm, progress.slow_mm, progress.dropped_records)
        if progress.finished or status.done:
            return closed
        status.wait(max(0.0, port.progress_period_s - (time.monotonic() - tick_s)))


def _close_lines(scan: FlyScan, recorder: FlyScanRecorder, closed: int, lines_done: int) -> int:
    for index in range(closed, min(lines_done, len(scan.lines))):
        samples = recorder.line_samples(index)
        t_start, t_end = (int(samples.t_ns.min()), int(samples.t_ns.max())) if len(samples) else (0, 0)
        recorder.line_finished(index, t_start, t_end)
    return max(closed, min(lines_done, len(scan.lines)))


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
