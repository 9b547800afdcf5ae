"""FlyScanRecorder: the bookkeeping every ScanPort does while a scan runs.

An executor (the Rust engine, a fake) reports what happened — samples arrived, a line started or
ended, the scan finished — and the recorder moves the FlyScan aggregate through its states,
correlates finished lines, publishes the events to the observer in order, and assembles the
ScanResults at the end (complete or partial). Adapters stay translations of their executor.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .correlation import FlyScanCorrelationService, Placement
from .events import FlyScanEvent, FlyScanProgress
from .fly_scan import FlyScan, LineState, ScanStatus
from .results import Provenance, ScanResults, assemble_results
from .samples import RawSamples

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .ports import ScanObserver


class FlyScanRecorder:
    def __init__(
        self, scan: FlyScan, observer: ScanObserver, placement: Placement = Placement.ENGINE_MODEL
    ) -> None:
        self.scan = scan
        self.observer = observer
        self.correlation = FlyScanCorrelationService(scan.config, placement)
        self._chunks: list[RawSamples] = []
        self._placed: dict[int, np.ndarray] = {}
        self._started_utc = ""
        self._t0_s = 0.0

    def _emit(self, event: FlyScanEvent) -> None:
        self.observer.on_event(event)

    @property
    def samples_received(self) -> int:
        return sum(len(c) for c in self._chunks)

    def begin(self, t_ns: int) -> None:
        self._started_utc = Provenance.now_utc()
        self._t0_s = time.monotonic()
        self._emit(self.scan.start(t_ns))

    def add_samples(self, samples: RawSamples) -> None:
        """Samples in acquisition order (any chunking; a chunk may span line boundaries)."""
        if len(samples):
            self._chunks.append(samples)

    def line_started(self, index: int) -> None:
        if self.scan.line(index).state is LineState.PENDING:
            self.scan.start_line(index)

    def line_finished(self, index: int, t_start_ns: int, t_end_ns: int) -> None:
        """All samples of line `index` have been added: acquire, correlate, publish."""
        self.line_started(index)
        line_samples = self.line_samples(index)
        self._emit(self.scan.line_acquired(index, t_start_ns, t_end_ns, len(line_samples)))
        profile = self.correlation.correlate(self.scan.line(index), line_samples)
        self._placed[index] = profile.fast_mm
        self._emit(self.scan.line_correlated(index, profile.fast_axis_mm, profile.profile_volts, profile.counts))

    def progress(self, state: str, current_line: int, fast_mm: float, slow_mm: float, dropped_records: int = 0) -> None:
        self._emit(
            FlyScanProgress(
                self.scan.id,
                state,
                self.scan.lines_done,
                len(self.scan.lines),
                current_line,
                self.samples_received,
                float(fast_mm),
                float(slow_mm),
                time.monotonic() - self._t0_s,
                int(dropped_records),
            )
        )

    def line_samples(self, index: int) -> RawSamples:
        """The samples of line `index` received so far, in acquisition order."""
        return RawSamples.concat(chunk.for_line(index) for chunk in self._chunks)

    def raw(self) -> RawSamples:
        return RawSamples.concat(self._chunks)

    def finish(
        self,
        status: ScanStatus,
        stats: Optional[Mapping[str, Any]] = None,
        plan: Optional[Mapping[str, Any]] = None,
        versions: Optional[Mapping[str, str]] = None,
        source: str = "",
        error: Optional[str] = None,
        error_type: Optional[str] = None,
    ) -> ScanResults:
        """End the scan with `status`, publish the closing event and build the results."""
        if status is ScanStatus.COMPLETED:
            event: FlyScanEvent = self.scan.complete(time.monotonic() - self._t0_s)
        elif status is ScanStatus.ABORTED:
            event = self.scan.abort(error or "abort requested")
        elif status is ScanStatus.FAILED:
            event = self.scan.fail(error or "scan failed", error_type)
        else:
            raise ValueError(f"a scan finishes as completed, aborted or failed, not {status.name}")
        raw = self.raw()
        placed = raw.fast_mm.copy()
        for index, fast_mm in self._placed.items():
            placed[raw.line == index] = fast_mm
        provenance = Provenance(
            plan=dict(plan or {}),
            versions=dict(versions or {}),
            started_utc=self._started_utc,
            finished_utc=Provenance.now_utc(),
            source=source,
        )
        results = assemble_results(self.scan, raw, stats, provenance, error, placed_fast_mm=placed)
        self._emit(event)
        return results
