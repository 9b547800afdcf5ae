"""PyMoDAQ 2D viewer: one grab = one whole raster flyscan, rows shown live while it flies.

A thin shell over bootstrap/StudyService like the 1D viewer. Stop aborts the engine (the motors
are stopped by it) and the rows acquired so far are emitted as the result. The map is the chosen
channel with both axes in mm; in the Dashboard its viewer shows the colour bar, scaled on each row.
"""
import time
from pathlib import Path
from typing import Optional

from pymodaq.control_modules.viewer_utility_classes import DAQ_Viewer_base, comon_parameters, main

from pymodaq_plugins_aefi.adapters.colour_scale import ColourScale
from pymodaq_plugins_aefi.adapters.flyscan_viewers import (
    MAP_CHANNELS,
    FlyscanViewerMixin,
    LastResultsRepository,
    LiveMap,
    StudyRunner,
    failed_map_dte,
    flyscan_params,
    flyscan_request,
    map_dte,
    viewer_defaults,
)
from pymodaq_plugins_aefi.bootstrap import bench_excitation_gains, bench_speeds, build_flyscan
from pymodaq_plugins_aefi.domain.events import FlyScanLineCorrelated, FlyScanProgress, FlyScanStarted

_PROGRESS_PERIOD_S = 0.25


class DAQ_2DViewer_AEFIFlyscan(FlyscanViewerMixin, DAQ_Viewer_base):
    """A raster flyscan per grab: Data2D map with both axes in mm (AEFI bench)."""

    # the systems the Rust extension is built for (wheels); PyMoDAQ refuses to start the plugin elsewhere
    supported_platforms = ("win32", "linux", "darwin")
    live_mode_available = False
    params = comon_parameters + flyscan_params(raster=True, settings=viewer_defaults())

    def ini_attributes(self) -> None:
        self.controller: Optional[StudyRunner] = None
        self.live_map = LiveMap()
        self._last_progress_s = 0.0
        self._colour_scale = ColourScale()

    def _ready_message(self, url: str) -> str:
        return f"AEFI raster flyscan on {url}"

    def _service(self):
        save_dir = self.settings["save_dir"].strip()
        return build_flyscan(arcus_url=self.settings["url"], board_url=self.settings["board_url"],
                             out_dir=Path(save_dir) if save_dir else Path.cwd(),
                             repository=None if save_dir else LastResultsRepository(),
                             speeds=bench_speeds(), excitation_gains=bench_excitation_gains()).service

    def grab_data(self, Naverage: int = 1, **kwargs) -> None:
        try:
            self.controller.start(flyscan_request(self.settings, raster=True))
        except Exception as error:  # refused before motion, or the link is busy: say so, keep running
            self._on_failed(f"{type(error).__name__}: {error}")

    # ---- study events (this plugin's thread) -----------------------------------------------------
    @property
    def _channels(self) -> tuple[int, ...]:
        return MAP_CHANNELS[self.settings["map_channels"]]

    def _on_event(self, event) -> None:
        if isinstance(event, FlyScanStarted):
            self.live_map.start(event)
        elif isinstance(event, FlyScanLineCorrelated):
            if self.live_map.add(event):
                self.dte_signal_temp.emit(self.live_map.dte(self._channels))
                self._colour_scale.show(self._title)  # the module's viewer: its dock, in the Dashboard
        elif isinstance(event, FlyScanProgress) and time.monotonic() - self._last_progress_s >= _PROGRESS_PERIOD_S:
            self._last_progress_s = time.monotonic()
            self.settings.child("progress").setValue(
                f"{event.state}: line {event.lines_done}/{event.lines_total}, {event.samples} samples, "
                f"{event.elapsed_s:.1f} s")

    def _failed_dte(self):
        return failed_map_dte(self.settings, self._channels)

    def _on_finished(self, outcome) -> None:
        results = outcome.results
        self.settings.child("progress").setValue(
            f"{results.status.value}: {results.lines_done}/{len(results.lines)} lines, {results.samples} samples")
        self.dte_signal.emit(map_dte(results, self._channels))
        if not outcome.location.startswith("memory://"):
            self._report(f"saved {outcome.location}")
        if results.partial:
            self._report(f"raster {results.status.value} after {results.lines_done} lines"
                         + (f": {results.error}" if results.error else ""))


if __name__ == "__main__":
    main(__file__, init=False)
