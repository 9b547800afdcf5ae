"""PyMoDAQView: a ScanObserver drawing a flyscan with PyMoDAQ's own widgets; it only displays.

A DockArea with the live map (Viewer2D, both axes in mm), the profile of the last line (Viewer1D,
the six channels) and a progress panel (bar, state, timing statistics). Events arrive on the
thread that runs the scan; they are handed to the GUI thread through a queued Qt signal, so
`on_event` returns at once and never touches a widget itself.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

import numpy as np
from pymodaq_data.data import Axis, DataRaw
from pymodaq_gui.plotting.data_viewers.viewer1D import Viewer1D
from pymodaq_gui.plotting.data_viewers.viewer2D import Viewer2D
from pymodaq_gui.utils.dock import Dock, DockArea
from qtpy import QtCore, QtWidgets

from ..domain.events import (
    FlyScanAborted,
    FlyScanCompleted,
    FlyScanEvent,
    FlyScanFailed,
    FlyScanLineCorrelated,
    FlyScanProgress,
    FlyScanSaved,
    FlyScanStarted,
)
from ..domain.measurement import CHANNEL_NAMES
from .flyscan_viewers import LiveMap


class PyMoDAQView(QtCore.QObject):
    """Live display of one flyscan at a time (see module doc)."""

    _event_received = QtCore.Signal(object)

    def __init__(self, dockarea: Optional[DockArea] = None, channel: int = 0) -> None:
        super().__init__()
        self.dockarea = dockarea if dockarea is not None else DockArea()
        self.channel = channel
        self.live_map = LiveMap()
        self._build()
        self._event_received.connect(self._handle, QtCore.Qt.ConnectionType.QueuedConnection)

    # ---- ScanObserver ----------------------------------------------------------------------------
    def on_event(self, event: FlyScanEvent) -> None:
        self._event_received.emit(event)

    # ---- display of results the caller already has ---------------------------------------------
    def show_stats(self, stats: Mapping[str, Any]) -> None:
        """Timing statistics of a finished scan (the engine's `join()` dict or ScanResults.stats)."""
        lateness = stats.get("trigger_lateness_us") or {}
        rows = [("samples", stats.get("samples")), ("wall time (s)", stats.get("wall_time_s")),
                ("sample rate (Hz)", stats.get("sample_rate_hz")), ("position polls (Hz)", stats.get("poll_rate_hz")),
                ("trigger lateness p50 / p99 / max (µs)",
                 " / ".join(f"{lateness.get(k, float('nan')):.1f}" for k in ("p50", "p99", "max"))
                 if lateness else None),
                ("missed triggers", stats.get("missed_triggers")), ("dropped records", stats.get("dropped_records")),
                ("abort latency (ms)", stats.get("abort_latency_ms"))]
        self.stats_label.setText("\n".join(f"{name}: {_fmt(value)}" for name, value in rows if value is not None))

    @property
    def map_volts(self) -> Optional[np.ndarray]:
        """(6, lines, points) V, NaN where not flown yet."""
        return self.live_map.volts

    def set_channel(self, index: int) -> None:
        self.channel = index
        self._draw_map()

    # ---- widgets ---------------------------------------------------------------------------------
    def _build(self) -> None:
        map_dock, line_dock, progress_dock = Dock("Flyscan map"), Dock("Current line"), Dock("Progress")
        self.dockarea.addDock(map_dock)
        self.dockarea.addDock(line_dock, "right", map_dock)
        self.dockarea.addDock(progress_dock, "bottom", line_dock)

        map_widget = QtWidgets.QWidget()
        map_dock.addWidget(map_widget)
        self.map_viewer = Viewer2D(map_widget, title="map")
        # the colour scale follows each redraw: the first rows alone would saturate the finished map
        self.map_viewer.view.get_action("autolevels").trigger()
        line_widget = QtWidgets.QWidget()
        line_dock.addWidget(line_widget)
        self.line_viewer = Viewer1D(line_widget, title="line")

        panel = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(panel)
        self.channel_box = QtWidgets.QComboBox()
        self.channel_box.addItems(CHANNEL_NAMES)
        self.channel_box.setCurrentIndex(self.channel)
        self.channel_box.currentIndexChanged.connect(self.set_channel)
        self.progress_bar = QtWidgets.QProgressBar()
        self.state_label = QtWidgets.QLabel("waiting for a scan")
        self.stats_label = QtWidgets.QLabel("")
        for widget in (self.channel_box, self.progress_bar, self.state_label, self.stats_label):
            layout.addWidget(widget)
        layout.addStretch()
        progress_dock.addWidget(panel)

    # ---- event handling (GUI thread) -----------------------------------------------------------
    @QtCore.Slot(object)
    def _handle(self, event: FlyScanEvent) -> None:
        if isinstance(event, FlyScanStarted):
            self._start(event)
        elif isinstance(event, FlyScanProgress):
            self.progress_bar.setValue(int(round(100 * event.fraction)))
            self.state_label.setText(f"{event.state}: line {event.lines_done}/{event.lines_total}, "
                                     f"{event.samples} samples, {event.elapsed_s:.1f} s, "
                                     f"probe at ({event.fast_mm:.2f}, {event.slow_mm:.2f}) mm")
        elif isinstance(event, FlyScanLineCorrelated):
            self._add_line(event)
        elif isinstance(event, FlyScanCompleted):
            self.progress_bar.setValue(100)
            self.state_label.setText(f"completed: {event.lines} lines, {event.samples} samples "
                                     f"in {event.wall_time_s:.2f} s")
        elif isinstance(event, FlyScanAborted):
            self.state_label.setText(f"aborted after {event.lines_done} lines ({event.reason})")
        elif isinstance(event, FlyScanFailed):
            self.state_label.setText(f"FAILED after {event.lines_done} lines: {event.error}")
        elif isinstance(event, FlyScanSaved):
            self.state_label.setText(self.state_label.text() + f"\nsaved{' (partial)' if event.partial else ''}: "
                                     f"{event.location}")

    def _start(self, event: FlyScanStarted) -> None:
        config = event.config
        self.live_map.start(event)
        self.progress_bar.setValue(0)
        self.stats_label.setText("")
        self.state_label.setText(f"started: {event.lines_total} lines of {config.points_per_line} points, "
                                 f"{config.fast_axis} {config.fast_start_mm:g}→{config.fast_stop_mm:g} mm at "
                                 f"{config.speed_mm_s:g} mm/s")

    def _add_line(self, event: FlyScanLineCorrelated) -> None:
        if not self.live_map.add(event):
            return
        profile = np.asarray(event.profile_volts, dtype=float)
        self.progress_bar.setValue(int(round(100 * (event.line + 1) / max(self.live_map.lines_total, 1))))
        axis = Axis("position", units="mm", data=np.asarray(event.fast_axis_mm, dtype=float), index=0)
        self.line_viewer.show_data(DataRaw(f"line {event.line} at {event.slow_mm:.2f} mm", units="V",
                                           data=list(profile), labels=list(CHANNEL_NAMES), axes=[axis]))
        self._draw_map()

    def _draw_map(self) -> None:
        if self.live_map.volts is None:
            return
        image = self.live_map.volts[self.channel]
        flown = np.isfinite(image)
        if not flown.any():
            return
        # rows not flown yet are drawn at the mean level so they do not stretch the colour scale
        image = np.where(flown, image, np.nanmean(image))
        axes = [Axis(f"{self.live_map.slow_axis} position", units="mm", data=self.live_map.slow_axis_mm, index=0),
                Axis(f"{self.live_map.fast_axis} position", units="mm", data=self.live_map.fast_axis_mm, index=1)]
        self.map_viewer.show_data(DataRaw(CHANNEL_NAMES[self.channel], units="V", data=[image], axes=axes))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
