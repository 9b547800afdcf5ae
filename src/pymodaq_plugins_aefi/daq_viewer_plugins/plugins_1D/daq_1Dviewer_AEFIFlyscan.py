"""PyMoDAQ 1D viewer: one grab = one fly line of the fast axis at the slow axis' current position.

A thin shell: the settings become a StudyService request (bootstrap wires the Rust engine), the
study runs off this thread, and its line comes back as Data1D on the map grid with the fast axis in
mm. Used as the detector of a DAQ_Scan Scan1D over the slow axis, this is "DAQ_Scan in flyscan
mode": DAQ_Scan steps Y with DAQ_Move_AEFI, each step flies a full X line.
"""
import time
from typing import Optional

from pymodaq.control_modules.thread_commands import ThreadStatus
from pymodaq.control_modules.viewer_utility_classes import DAQ_Viewer_base, comon_parameters, main
from pymodaq_utils.utils import ThreadCommand

from pymodaq_plugins_aefi.adapters.arcus_stage import read_position_steps
from pymodaq_plugins_aefi.adapters.links import OTHER_URL
from pymodaq_plugins_aefi.adapters.pymodaq_flyscan import (LastResultsRepository, StudyRunner, flyscan_params,
                                                           flyscan_request, line_dte, line_event_dte,
                                                           viewer_defaults)
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.domain.events import FlyScanLineCorrelated, FlyScanProgress
from pymodaq_plugins_aefi.domain.units import StepScale

_PROGRESS_PERIOD_S = 0.25


class DAQ_1DViewer_AEFIFlyscan(DAQ_Viewer_base):
    """One flyscan line per grab (AEFI bench: Arcus stage + virtual probe or acquisition board)."""

    live_mode_available = False
    params = comon_parameters + flyscan_params(raster=False, settings=viewer_defaults())

    def ini_attributes(self) -> None:
        self.controller: Optional[StudyRunner] = None
        self._last_progress_s = 0.0

    def ini_detector(self, controller: Optional[StudyRunner] = None) -> tuple[str, bool]:
        try:
            url = self.settings["url"]
            read_position_steps(url, self.settings["slow_axis"])  # the link is there (and not held elsewhere)
        except Exception as error:
            return f"AEFI flyscan: {error}", False
        self.controller = StudyRunner(self._service)
        self.controller.event.connect(self._on_event)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        return f"AEFI flyscan line on {url}", True

    def _service(self):
        return build_flyscan(arcus_url=self.settings["url"], board_url=self.settings["board_url"],
                             repository=LastResultsRepository()).service

    def commit_settings(self, param) -> None:
        if param.name() == "connection" and param.value() != OTHER_URL:
            self.settings.child("url").setValue(param.value())

    def grab_data(self, Naverage: int = 1, **kwargs) -> None:
        try:
            slow_steps = read_position_steps(self.settings["url"], self.settings["slow_axis"])
            request = flyscan_request(self.settings, raster=False,
                                      slow_position_mm=StepScale(self.settings["step_um"]).to_mm(slow_steps))
            self.controller.start(request)
        except Exception as error:  # refused before motion, or the link is busy: say so, keep running
            self._on_failed(f"{type(error).__name__}: {error}")

    def stop(self) -> str:
        if self.controller is not None:
            self.controller.abort()
        return ""

    def close(self) -> None:
        if self.controller is not None:
            self.controller.abort()
            self.controller.wait(10.0)
            self.controller = None

    # ---- study events (this plugin's thread) -----------------------------------------------------
    def _on_event(self, event) -> None:
        if isinstance(event, FlyScanProgress) and time.monotonic() - self._last_progress_s >= _PROGRESS_PERIOD_S:
            self._last_progress_s = time.monotonic()
            self.settings.child("progress").setValue(
                f"{event.state}, {event.samples} samples, {event.fast_mm:.2f} mm, {event.elapsed_s:.1f} s")
        elif isinstance(event, FlyScanLineCorrelated):
            self.dte_signal_temp.emit(line_event_dte(event, self.settings["fast_axis"]))

    def _on_finished(self, outcome) -> None:
        results = outcome.results
        self.settings.child("progress").setValue(f"{results.status.value}: {results.samples} samples")
        self.dte_signal.emit(line_dte(results, raw=self.settings["raw"]))
        if results.partial:
            self._report(f"line {results.status.value}" + (f": {results.error}" if results.error else ""))

    def _on_failed(self, message: str) -> None:
        self.settings.child("progress").setValue("failed")
        self._report(f"grab failed: {message}")

    def _report(self, message: str) -> None:
        self.emit_status(ThreadCommand(ThreadStatus.UPDATE_STATUS, f"AEFI flyscan: {message}"))


if __name__ == "__main__":
    main(__file__, init=False)
