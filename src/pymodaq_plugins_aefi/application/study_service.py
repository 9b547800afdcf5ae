"""StudyService: runs one study (a flyscan) from request to saved results.

Validate the request → execute it through the ScanPort → save the results through the repository →
tell the observers. The results are saved whatever the ending: a completed scan, an aborted one,
or one that failed mid-way (then with the lines acquired so far, marked partial). Only the ports
are known here: no Rust, no PyMoDAQ, no files.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

from ..domain.config import FlyScanConfig
from ..domain.errors import InvalidScanConfig, ScanBusyError, ScanExecutionError
from ..domain.events import FlyScanSaved
from ..domain.fly_scan import FlyScan, ScanId, ScanStatus
from ..domain.ports import ObserverGroup, ResultsRepository, ScanObserver, ScanPort
from ..domain.results import ScanResults

_log = logging.getLogger(__name__)

StudyRequest = FlyScanConfig | Mapping[str, Any]


@dataclass(frozen=True)
class StudyOutcome:
    results: ScanResults
    location: str

    @property
    def status(self) -> ScanStatus:
        return self.results.status

    @property
    def partial(self) -> bool:
        return self.results.partial


class StudyService:
    def __init__(
        self, scan_port: ScanPort, repository: ResultsRepository, observers: Iterable[ScanObserver] = ()
    ) -> None:
        self._port = scan_port
        self._repository = repository
        self.observers = ObserverGroup(observers)
        self._lock = threading.Lock()
        self._current: Optional[FlyScan] = None

    @property
    def running(self) -> Optional[FlyScan]:
        """The scan in progress, if any."""
        return self._current

    def plan(self, request: StudyRequest, scan_id: Optional[ScanId] = None) -> FlyScan:
        """Validate a request (a FlyScanConfig or its parameters by name) into a FlyScan ready to run.

        Raises InvalidScanConfig naming the parameter; nothing moves.
        """
        if isinstance(request, FlyScanConfig):
            config = request
        elif isinstance(request, Mapping):
            config = FlyScanConfig.from_dict(request)
        else:
            raise InvalidScanConfig(
                "request", f"expected FlyScanConfig or a mapping of its fields, got {type(request).__name__}"
            )
        return FlyScan(config, scan_id)

    def run_study(self, request: StudyRequest, scan_id: Optional[ScanId] = None) -> StudyOutcome:
        """Run one flyscan to its end and save its results; blocks until saved.

        Returns the outcome for completed, aborted and failed-with-data scans alike (see
        `outcome.status` / `outcome.partial`). Raises InvalidScanConfig before any motion,
        ScanBusyError when a study is already running, and ScanExecutionError when a failure left
        nothing to save.
        """
        scan = self.plan(request, scan_id)
        with self._lock:
            if self._current is not None:
                raise ScanBusyError(f"study {self._current.id} is running; abort it or wait for it to end")
            self._current = scan
        journal = self._open_journal(scan)
        try:
            results = self._execute(scan)
            self._close_journal(journal)
            location = self._repository.save(results)
            self.observers.on_event(FlyScanSaved(scan.id, location, results.status.value, results.partial))
            return StudyOutcome(results, location)
        finally:
            self._close_journal(journal)
            with self._lock:
                self._current = None

    def _open_journal(self, scan: FlyScan) -> Optional[ScanObserver]:
        try:
            journal = self._repository.open_journal(scan)
        except Exception as err:  # the final save still tries, with its own fallback
            _log.warning("study %s: no line journal (%s); the results are written at the end only", scan.id, err)
            return None
        if journal is not None:
            self.observers.add(journal)
        return journal

    def _close_journal(self, journal: Optional[ScanObserver]) -> None:
        if journal is None or journal not in self.observers:
            return
        self.observers.remove(journal)
        close = getattr(journal, "close", None)
        if callable(close):
            close()

    def abort(self) -> None:
        """Stop the running study (motors stopped by the port); its partial results are still saved."""
        if self._current is not None:
            self._port.abort()

    def _execute(self, scan: FlyScan) -> ScanResults:
        try:
            return self._port.execute_scan(scan, self.observers)
        except ScanExecutionError as err:
            if err.partial_results is None:
                self._mark_failed(scan, err)
                raise
            _log.warning("study %s failed after %d lines: %s", scan.id, err.partial_results.lines_done, err)
            return err.partial_results
        except InvalidScanConfig:
            raise
        except Exception as err:  # a port bug or an unexpected fault: report it as a failed study
            self._mark_failed(scan, err)
            raise ScanExecutionError(f"study {scan.id} failed: {type(err).__name__}: {err}") from err

    def _mark_failed(self, scan: FlyScan, err: Exception) -> None:
        # The port may have died before publishing the end of the scan; observers must hear it.
        if not scan.status.finished:
            self.observers.on_event(scan.fail(str(err), type(err).__name__))
