"""Ports of the hexagon (ADR-002): ScanPort (input), ScanObserver (output), ResultsRepository.

Adapters implement them: RustScanAdapter (ScanPort on the Rust engine), PyMoDAQView (ScanObserver),
H5ResultsRepository (PyMoDAQ-format HDF5). Tests use the fakes of `pymodaq_plugins_aefi.testing`.
Why a hexagon, and what may import what: docs/decisions/0003-ports-and-adapters.md.
"""
from __future__ import annotations

import abc
import logging
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from .events import FlyScanEvent
from .fly_scan import FlyScan
from .results import ScanResults

_log = logging.getLogger(__name__)


@runtime_checkable
class ScanObserver(Protocol):
    """Receives the scan's events in order, on the thread that runs the scan; must return quickly."""

    def on_event(self, event: FlyScanEvent) -> None: ...


class ScanPort(abc.ABC):
    """Runs a flyscan on some stage and detector."""

    @abc.abstractmethod
    def execute_scan(self, scan: FlyScan, observer: ScanObserver) -> ScanResults:
        """Run `scan` to its end and return its results.

        Blocks until the scan is over. An abort (from another thread) or a fault mid-scan still
        returns results, with status ABORTED or FAILED and the lines acquired so far. A scan refused
        before any motion raises InvalidScanConfig; a failure that leaves nothing to return raises
        ScanExecutionError.
        """

    @abc.abstractmethod
    def abort(self) -> None:
        """Ask the running scan to stop now (motors stopped); returns at once; no-op when idle."""


class ResultsRepository(abc.ABC):
    """Keeps scan results (complete or partial) and reads them back."""

    @abc.abstractmethod
    def save(self, results: ScanResults) -> str:
        """Store `results`; returns where (a path or key) for `load`."""

    @abc.abstractmethod
    def load(self, location: str) -> ScanResults:
        """Read back results saved by `save`."""


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

    def on_event(self, event: FlyScanEvent) -> None:
        for observer in list(self._observers):
            try:
                observer.on_event(event)
            except Exception:  # an observer's bug must not leave the motors running
                _log.exception("observer %r failed on %s", observer, event.topic)
