"""PyMoDAQ 1D viewer: one grab = one fly line of the fast axis at the slow axis' current position.

A thin shell: the settings become a StudyService request (bootstrap wires the Rust engine), the
study runs off this thread, and its line comes back as Data1D on the map grid with the fast axis in
mm. Used as the detector of a DAQ_Scan Scan1D over the slow axis, this is "DAQ_Scan in flyscan
mode": DAQ_Scan steps Y with DAQ_Move_AEFI, each step flies a full X line.
"""
import time
from typing import Optional

from pymodaq.control_modules.viewer_utility_classes import DAQ_Viewer_base, comon_parameters, main

from pymodaq_plugins_aefi.adapters.arcus_stage import read_position_steps
from pymodaq_plugins_aefi.adapters.flyscan_viewers import (
    FlyscanViewerMixin,
    LastResultsRepository,
    StudyRunner,
    failed_line_dte,
    flyscan_params,
    flyscan_request,
    line_dte,
    line_event_dte,
    line_figures,
    viewer_defaults,
)
from pymodaq_plugins_aefi.bootstrap import bench_excitation_gains, bench_speeds, build_flyscan
from pymodaq_plugins_aefi.domain.events import FlyScanLineCorrelated, FlyScanProgress
from pymodaq_plugins_aefi.domain.units import StepScale

_PROGRESS_PERIOD_S = 0.25


class DAQ_1DViewer_AEFIFlyscan(FlyscanViewerMixin, DAQ_Viewer_base):
    """One flyscan line per grab (AEFI bench: Arcus stage + virtual probe or acquisition board)."""

    # the systems the Rust extension is built for (wheels); PyMoDAQ refuses to start the plugin elsewhere
    supported_platforms = ("win32", "linux", "darwin")
    live_mode_available = False
    params = comon_parameters + flyscan_params(raster=False, settings=viewer_defaults())

    def ini_attributes(self) -> None:
        self.controller: Optional[StudyRunner] = None
        self._last_progress_s = 0.0

    def _ready_message(self, url: str) -> str:
        return f"AEFI flyscan line on {url}"

    def _service(self):
        return build_flyscan(arcus_url=self.settings["url"], board_url=self.settings["board_url"],
                             repository=LastResultsRepository(), speeds=bench_speeds(),
                             excitation_gains=bench_excitation_gains()).service

    def grab_data(self, Naverage: int = 1, **kwargs) -> None:
        try:
            slow_steps = read_position_steps(self.settings["url"], self.settings["slow_axis"])
            request = flyscan_request(self.settings, raster=False,
                                      slow_position_mm=StepScale(self.settings["step_um"]).to_mm(slow_steps))
            self.controller.start(request)
        except Exception as error:  # refused before motion, or the link is busy: say so, keep running
            self._on_failed(f"{type(error).__name__}: {error}")

    # ---- study events (this plugin's thread) -----------------------------------------------------
    def _on_event(self, event) -> None:
        if isinstance(event, FlyScanProgress) and time.monotonic() - self._last_progress_s >= _PROGRESS_PERIOD_S:
            self._last_progress_s = time.monotonic()
            self.settings.child("progress").setValue(
                f"{event.state}, {event.samples} samples, {event.fast_mm:.2f} mm, {event.elapsed_s:.1f} s")
        elif isinstance(event, FlyScanLineCorrelated):
            self.dte_signal_temp.emit(line_event_dte(event, self.settings["fast_axis"]))

    def _failed_dte(self):
        return failed_line_dte(self.settings)

    def _on_finished(self, outcome) -> None:
        results = outcome.results
        figures = line_figures(results, 0)
        self.settings.child("progress").setValue(
            f"{results.status.value}: {results.samples} samples, {figures['duration (s)']:.2f} s at "
            f"{figures['mean speed (mm/s)']:.1f} mm/s, grid {figures['grid filled (%)']:.0f} % filled")
        self.dte_signal.emit(line_dte(results, raw=self.settings["raw"]))
        if results.partial:
            self._report(f"line {results.status.value}" + (f": {results.error}" if results.error else ""))


if __name__ == "__main__":
    main(__file__, init=False)
