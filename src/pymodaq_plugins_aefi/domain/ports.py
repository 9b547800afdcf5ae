"""Ports of the hexagon (ADR-002): ScanPort (input), ScanObserver (output), ResultsRepository.

Adapters implement them: RustScanAdapter (ScanPort on the Rust engine), PyMoDAQView (ScanObserver),
H5ResultsRepository (PyMoDAQ-format HDF5). Tests use the fakes of `pymodaq_plugins_aefi.testing`.

A ScanPort runs a scan in four verbs — prepare, kickoff, complete, collect — and aborts from any
state: the fly protocol of orchestration frameworks (Bluesky's flyers), so that a scan can go to its
start early, arm in step with another device, or be driven by such a framework. `execute_scan` is
their composition (`lifecycle.run_scan`): what StudyService and the plugins call.

Why a hexagon, and what may import what: docs/decisions/0003-ports-and-adapters.md.
"""
from __future__ import annotations

import abc
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

from .correlation import Placement
from .events import FlyScanEvent
from .fly_scan import FlyScan, ScanStatus
from .lifecycle import run_scan
from .results import ScanResults
from .samples import RawSamples

_log = logging.getLogger(__name__)

#: Executor states that end a scan.
FINAL_STATES = ("completed", "aborted", "failed")


@runtime_checkable
class ScanObserver(Protocol):
    """Receives the scan's events in order, on the thread that runs the scan; must return quickly."""

    def on_event(self, event: FlyScanEvent) -> None: ...


@dataclass(frozen=True)
class FlightProgress:
    """Where a scan is, as its port reports it (positions in mm).

    `state` is the executor's: preparing, moving_to_start, ready, flying, between_lines, stopping,
    completed, aborted, failed.
    """

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
    def finished(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class ScanOutcome:
    """How a scan ended, once complete: its status, the executor's statistics and provenance."""

    status: ScanStatus
    stats: Mapping[str, Any]
    error: Optional[str] = None
    error_type: Optional[str] = None
    plan: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    source: str = ""


class ScanCompletion(abc.ABC):
    """What `ScanPort.complete()` returns: done when the scan's last line is, or when it ended otherwise."""

    @property
    @abc.abstractmethod
    def done(self) -> bool:
        """True once the scan has ended and every sample can be collected."""

    @abc.abstractmethod
    def wait(self, timeout_s: Optional[float] = None) -> bool:
        """Block until done, at most `timeout_s` (None: no limit); returns `done`. Never aborts."""

    @abc.abstractmethod
    def progress(self) -> FlightProgress:
        """Where the scan is now; cheap, any rate."""

    @abc.abstractmethod
    def outcome(self) -> ScanOutcome:
        """How the scan ended; waits for the end."""


class ScanPort(abc.ABC):
    """Runs flyscans on some stage and detector, one at a time, in four verbs."""

    #: How samples are placed on the map (see `correlation.Placement`).
    placement: Placement = Placement.ENGINE_MODEL
    #: Period of the progress events and of collecting while a scan flies (s).
    progress_period_s: float = 0.05

    @abc.abstractmethod
    def prepare(self, scan: FlyScan) -> None:
        """Get ready to fly `scan`: validate it, check every axis it uses, move to the first run-up
        start, arm the detector, allocate every buffer. Blocks; nothing flies yet.

        Raises InvalidScanConfig (refused, nothing moved), ScanBusyError (the stage or the port is
        taken), ScanExecutionError (an axis with a latched limit or alarm — refused before any
        motion, naming the axis — or a link or controller fault), ScanAborted (abort() came first;
        `complete()` then reports the aborted scan).
        """

    @abc.abstractmethod
    def kickoff(self) -> None:
        """Start flying the prepared scan; returns at once. ScanAborted if an abort came first."""

    @abc.abstractmethod
    def complete(self) -> ScanCompletion:
        """The status of the prepared scan: done when its last line is, with progress meanwhile."""

    @abc.abstractmethod
    def collect(self) -> RawSamples:
        """The samples acquired since the last call, in acquisition order (empty when none)."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Stop the scan now, whatever its state (motors stopped); returns at once; no-op when idle."""

    def baseline_samples(self) -> RawSamples:
        """A differential scan's baseline samples (excitation muted) collected so far, kept apart from
        `collect()`'s; empty for a port that flies no baseline."""
        return RawSamples.empty()

    def execute_scan(self, scan: FlyScan, observer: ScanObserver) -> ScanResults:
        """Run `scan` to its end through the four verbs and return its results.

        Blocks until the scan is over. An abort (from another thread) or a fault mid-scan still
        returns results, with status ABORTED or FAILED and the lines acquired so far. A scan refused
        before any motion raises InvalidScanConfig; a failure that leaves nothing to return raises
        ScanExecutionError.
        """
        return run_scan(self, scan, observer)


class ResultsRepository(abc.ABC):
    """Keeps scan results (complete or partial) and reads them back."""

    @abc.abstractmethod
    def save(self, results: ScanResults) -> str:
        """Store `results`; returns where (a path or key) for `load`."""

    @abc.abstractmethod
    def load(self, location: str) -> ScanResults:
        """Read back results saved by `save`."""

    def open_journal(self, scan: FlyScan) -> Optional[ScanObserver]:
        """An observer that writes `scan`'s lines as they complete (FlyScanLineSamples), so that a
        crash loses at most the line in flight; None when this repository keeps nothing until `save`."""
        return None


class ObserverGroup:
    """Fans events out to several observers; one failing observer does not stop the others or the scan."""

    def __init__(self, observers: Iterable[ScanObserver] = ()) -> None:
        self._observers: list[ScanObserver] = list(observers)

    def add(self, observer: ScanObserver) -> None:
        if not isinstance(observer, ScanObserver):
            raise TypeError(f"{observer!r} has no on_event(event) method")
        self._observers.append(observer)

    def remove(self, observer: ScanObserver) -> None:
        self._observers.remove(observer)

    def __len__(self) -> int:
        return len(self._observers)

    def __contains__(self, observer: object) -> bool:
        return any(o is observer for o in self._observers)

    def on_event(self, event: FlyScanEvent) -> None:
        for observer in list(self._observers):
            try:
                observer.on_event(event)
            except Exception:  # an observer's bug must not leave the motors running
                _log.exception("observer %r failed on %s", observer, event.topic)
