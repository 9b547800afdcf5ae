"""What the flyscan viewer plugins share: a study run off the plugin's thread, and results as PyMoDAQ data.

`StudyRunner` runs `StudyService.run_study` on a worker thread (a flyscan lasts seconds to hours;
the plugin's Qt thread must stay free to receive Stop) and relays the study's events and its end
as Qt signals, delivered in the thread that owns the runner. `FlyscanViewerMixin` is the plugin
life cycle both viewers share (connect, stop, close, report). The `*_dte` functions turn domain
results into `DataToExport` with real axes in mm.

Every grab ends with data: a grab refused or failed before any line emits a frame of the usual
shape filled with NaN (and says why in the status bar and the log), so PyMoDAQ's Snap and a
DAQ_Scan step never wait for data that will not come.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Optional

import numpy as np
from pymodaq.control_modules.thread_commands import ThreadStatus
from pymodaq.utils.data import DataFromPlugins
from pymodaq_data.data import Axis, DataToExport
from pymodaq_utils.logger import set_logger
from pymodaq_utils.utils import ThreadCommand
from qtpy import QtCore

from ..application.study_service import StudyService
from ..domain.config import DAQ_DETECTORS, DAQ_START_TRIGGERS, DEFAULT_EXCITATION_SETTLE_MS, DETECTORS, FlyScanConfig
from ..domain.events import FlyScanEvent, FlyScanLineCorrelated, FlyScanStarted
from ..domain.gridding import GriddedMap
from ..domain.measurement import CHANNEL_NAMES
from ..domain.ports import ResultsRepository
from ..domain.results import ScanResults
from .arcus_stage import read_position_steps
from .links import OTHER_URL

ServiceFactory = Callable[[], StudyService]

#: The DAQ detector's settings and their defaults (FlyScanConfig's).
DAQ_FIELD_DEFAULTS: dict[str, Any] = {
    name: FlyScanConfig.__dataclass_fields__[name].default
    for name in ("daq_channels", "daq_range_v", "daq_start_trigger", "daq_trigger_source")}

#: Name of the raster viewer's data (and, in a differential grab, of the baseline and the difference).
MAP_NAME = "AEFI map"
BASELINE_NAME = "AEFI baseline"
DIFFERENCE_NAME = "AEFI difference"

# PyMoDAQ's logger: its warnings reach ~/.pymodaq/log/pymodaq.log and the log window
logger = set_logger("pymodaq_plugins_aefi.flyscan", add_to_console=False)


class LastResultsRepository(ResultsRepository):
    """Keeps only the latest results in memory: for grabs whose data the caller saves (DAQ_Scan, DAQ_Viewer)."""

    def __init__(self) -> None:
        self.last: Optional[ScanResults] = None

    def save(self, results: ScanResults) -> str:
        self.last = results
        return f"memory://{results.scan_id}"

    def load(self, location: str) -> ScanResults:
        if self.last is None or location != f"memory://{self.last.scan_id}":
            raise FileNotFoundError(f"{location} is not the last grab kept in memory")
        return self.last


class StudyRunner(QtCore.QObject):
    """One study at a time on a worker thread; events and the ending come back as Qt signals."""

    event = QtCore.Signal(object)  # a FlyScanEvent
    finished = QtCore.Signal(object)  # the StudyOutcome (completed, aborted or failed with data)
    failed = QtCore.Signal(str)  # nothing to show: refused, link busy, failure before any line

    def __init__(self, service_factory: ServiceFactory) -> None:
        super().__init__()
        self._service_factory = service_factory
        self._service: Optional[StudyService] = None
        self._thread: Optional[threading.Thread] = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, request: Mapping[str, Any]) -> None:
        """Plan (refusing bad input at once, before any motion) and run `request` in the background."""
        if self.running:
            raise RuntimeError("a flyscan is already running; stop it or wait for its end")
        service = self._service_factory()
        service.plan(request)  # InvalidScanConfig here, in the caller's thread
        service.observers.add(self)
        self._service = service
        self._thread = threading.Thread(target=self._run, args=(service, dict(request)), name="aefi-study",
                                        daemon=True)
        self._thread.start()

    def abort(self) -> None:
        """Stop the running study; its partial results still arrive through `finished`."""
        if self._service is not None:
            self._service.abort()

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        """Join the worker thread (close() of a plugin); True when it ended."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.running

    def on_event(self, event: FlyScanEvent) -> None:  # ScanObserver, called on the worker thread
        self.event.emit(event)

    def _run(self, service: StudyService, request: dict) -> None:
        try:
            outcome = service.run_study(request)
        except Exception as error:  # every ending reaches the plugin, which reports it
            self.failed.emit(f"{type(error).__name__}: {error}")
        else:
            self.finished.emit(outcome)


class LiveMap:
    """The map as the lines arrive (rows not flown yet are NaN), for live displays."""

    def __init__(self) -> None:
        self.fast_axis_mm = np.zeros(0)
        self.slow_axis_mm = np.zeros(0)
        self.volts: Optional[np.ndarray] = None  # (6, lines, points)
        self.lines_total = 0
        self.fast_axis, self.slow_axis = "X", "Y"

    def start(self, event: FlyScanStarted) -> None:
        config = event.config
        self.fast_axis_mm = np.asarray(config.fast_axis_mm, dtype=float)
        self.slow_axis_mm = np.asarray(config.slow_axis_mm, dtype=float)
        self.fast_axis, self.slow_axis = config.fast_axis, config.slow_axis
        self.lines_total = event.lines_total
        self.volts = np.full((len(CHANNEL_NAMES), self.slow_axis_mm.size, self.fast_axis_mm.size), np.nan)

    def add(self, event: FlyScanLineCorrelated) -> bool:
        """Place one line; False when it does not belong to the map started last."""
        if self.volts is None or not 0 <= event.line < self.volts.shape[1]:
            return False
        self.volts[:, event.line, :] = np.asarray(event.profile_volts, dtype=float)
        return True

    @property
    def counts(self) -> np.ndarray:
        return np.isfinite(self.volts[0]).astype(int) if self.volts is not None else np.zeros((0, 0), int)

    def dte(self, channels: Iterable[int]) -> DataToExport:
        return DataToExport("AEFI", data=[map_dwa(MAP_NAME, self, self.fast_axis, self.slow_axis, list(channels))])


# ---- domain results → PyMoDAQ data ----------------------------------------------------------------
def line_profile_dwa(name: str, fast_axis_mm: np.ndarray, profile_volts: np.ndarray, fast_axis: str) -> DataFromPlugins:
    """One line on the regular grid: six channels (V) against the fast-axis position (mm)."""
    return DataFromPlugins(name=name, data=[np.asarray(row, dtype=float) for row in profile_volts], dim="Data1D",
                           labels=list(CHANNEL_NAMES), units="V",
                           axes=[Axis(f"{fast_axis} position", units="mm", data=np.asarray(fast_axis_mm), index=0)])


def line_event_dte(event: FlyScanLineCorrelated, fast_axis: str) -> DataToExport:
    """A line as soon as it is placed on the grid (live data while the scan flies)."""
    return DataToExport("AEFI", data=[line_profile_dwa(f"line {event.line}", event.fast_axis_mm, event.profile_volts,
                                                       fast_axis)])


def line_dte(results: ScanResults, raw: bool) -> DataToExport:
    """The result of a one-line grab: its profile, its figures and, if asked, its raw samples; a
    differential grab adds the line's baseline and the difference."""
    fast_axis_mm, fast_axis = results.map.fast_axis_mm, results.config.fast_axis
    data = [line_profile_dwa("AEFI line", fast_axis_mm, results.map.row(0), fast_axis),
            line_figures_dwa(line_figures(results, 0))]
    if results.config.differential:
        data += [line_profile_dwa("AEFI baseline line", fast_axis_mm, results.baseline_volts[:, 0, :], fast_axis),
                 line_profile_dwa("AEFI difference line", fast_axis_mm, results.difference_volts[:, 0, :], fast_axis)]
    if raw:
        data += raw_dwas(results)
    return DataToExport("AEFI", data=data)


def failed_line_dte(settings: Any) -> DataToExport:
    """What a one-line grab that produced nothing emits: the line and its figures, NaN, on the asked grid."""
    fast_axis_mm = np.linspace(settings["fast_start_mm"], settings["fast_stop_mm"], settings["points_per_line"])
    profile = np.full((len(CHANNEL_NAMES), fast_axis_mm.size), np.nan)
    return DataToExport("AEFI", data=[line_profile_dwa("AEFI line", fast_axis_mm, profile, settings["fast_axis"]),
                                      line_figures_dwa(dict.fromkeys(LINE_FIGURES, np.nan))])


def failed_map_dte(settings: Any, channels: Iterable[int]) -> DataToExport:
    """What a raster grab that produced nothing emits: the asked map, NaN, with its axes in mm."""
    nan_map = LiveMap()
    nan_map.fast_axis_mm = np.linspace(settings["fast_start_mm"], settings["fast_stop_mm"], settings["points_per_line"])
    nan_map.slow_axis_mm = np.linspace(settings["slow_start_mm"], settings["slow_stop_mm"], settings["lines"])
    nan_map.fast_axis, nan_map.slow_axis = settings["fast_axis"], settings["slow_axis"]
    nan_map.volts = np.full((len(CHANNEL_NAMES), nan_map.slow_axis_mm.size, nan_map.fast_axis_mm.size), np.nan)
    return nan_map.dte(channels)


def raw_dwas(results: ScanResults) -> list[DataFromPlugins]:
    """Every sample as taken (irregular positions): channels (V) and positions (mm) against the sample number."""
    raw = results.raw
    sample_axis = Axis("sample", units="", data=np.arange(len(raw), dtype=float), index=0)
    volts = np.asarray(raw.channels_volts, dtype=float).reshape(len(raw), len(CHANNEL_NAMES))
    return [
        DataFromPlugins(name="raw samples", data=[volts[:, k] for k in range(len(CHANNEL_NAMES))], dim="Data1D",
                        labels=list(CHANNEL_NAMES), units="V", axes=[sample_axis]),
        DataFromPlugins(name="raw positions", data=[np.asarray(raw.fast_mm, float), np.asarray(raw.slow_mm, float),
                                                    np.asarray(raw.pos_err_mm, float)],
                        dim="Data1D", labels=["fast", "slow", "position error"], units="mm", axes=[sample_axis.copy()]),
    ]


#: The figures of a flown line, in the order of the channels of its "line figures" data (units in the labels).
LINE_FIGURES = ("samples", "duration (s)", "mean speed (mm/s)", "grid filled (%)")


def line_figures(results: ScanResults, line: int) -> dict[str, float]:
    """Samples, duration, mean speed over the sampled span and grid fill of one line (keys: LINE_FIGURES)."""
    summary = next((s for s in results.lines if s.index == line), None)
    samples = summary.samples if summary is not None else 0
    duration_s = ((summary.t_end_ns - summary.t_start_ns) * 1e-9
                  if summary is not None and summary.t_start_ns is not None and summary.t_end_ns is not None else 0.0)
    row_counts = np.asarray(results.map.counts)[line] if len(results.map.counts) > line else np.zeros(0)
    filled = float(np.count_nonzero(row_counts)) / row_counts.size if row_counts.size else 0.0
    speed = results.config.fast_span_mm / duration_s if duration_s > 0 else 0.0
    return dict(zip(LINE_FIGURES, (float(samples), duration_s, speed, 100.0 * filled), strict=True))


def line_figures_dwa(figures: Mapping[str, float]) -> DataFromPlugins:
    """The line's figures as one 0D group, saved with the line (DAQ_Viewer, DAQ_Scan) but not given a dock:
    `do_plot=False` keeps the Dashboard at one view per grab."""
    return DataFromPlugins(name="line figures", data=[np.array([float(figures[name])]) for name in LINE_FIGURES],
                           dim="Data0D", labels=list(LINE_FIGURES), units="", do_plot=False)


def map_dwa(name: str, results_map: Any, fast_axis: str, slow_axis: str, channels: Iterable[int]) -> DataFromPlugins:
    """The gridded map (rows = slow axis, columns = fast axis), both axes in mm."""
    volts = np.asarray(results_map.volts, dtype=float)
    return DataFromPlugins(
        name=name, data=[volts[k].copy() for k in channels], dim="Data2D", units="V",
        labels=[CHANNEL_NAMES[k] for k in channels],
        axes=[Axis(f"{slow_axis} position", units="mm", data=np.asarray(results_map.slow_axis_mm, float), index=0),
              Axis(f"{fast_axis} position", units="mm", data=np.asarray(results_map.fast_axis_mm, float), index=1)])


def map_dte(results: ScanResults, channels: Iterable[int]) -> DataToExport:
    """The result of a raster grab: the map of the chosen channels (NaN where no sample fell); a
    differential grab adds the baseline map and the difference (excited − baseline) on the same grid."""
    config, channels = results.config, list(channels)
    data = [map_dwa(MAP_NAME, results.map, config.fast_axis, config.slow_axis, channels)]
    if config.differential:
        grid = results.map
        for name, volts in ((BASELINE_NAME, results.baseline_volts), (DIFFERENCE_NAME, results.difference_volts)):
            view = GriddedMap(grid.fast_axis_mm, grid.slow_axis_mm, volts, grid.counts)
            data.append(map_dwa(name, view, config.fast_axis, config.slow_axis, channels))
    return DataToExport("AEFI", data=data)



class FlyscanViewerMixin:
    """The life cycle the flyscan viewers share; put it before `DAQ_Viewer_base` in the bases.

    The viewer supplies `_service()` (its StudyService factory), `_on_event`, `_on_finished`,
    `_failed_dte()` (the NaN frame of a grab that produced nothing) and `_ready_message(url)` (the
    status shown once initialized).
    """

    controller: Optional[StudyRunner]
    # Provided by the viewer and DAQ_Viewer_base (after this class in the MRO): declared, never assigned here.
    settings: Any
    emit_status: Callable[[ThreadCommand], None]
    dte_signal: Any
    _service: ServiceFactory
    _on_event: Callable[[Any], None]
    _on_finished: Callable[[Any], None]
    _ready_message: Callable[[str], str]
    _failed_dte: Callable[[], DataToExport]

    def ini_detector(self, controller: Optional[StudyRunner] = None) -> tuple[str, bool]:
        # no speed is set here: every grab applies the bench's profile for its flight and undoes it
        try:
            url = self.settings["url"]
            read_position_steps(url, self.settings["slow_axis"])  # the link is there (and not held elsewhere)
        except Exception as error:
            return f"AEFI flyscan: {error}", False
        self.controller = StudyRunner(self._service)
        self.controller.event.connect(self._on_event)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        return self._ready_message(url), True

    def commit_settings(self, param: Any) -> None:
        if param.name() == "connection" and param.value() != OTHER_URL:
            self.settings.child("url").setValue(param.value())

    def stop(self) -> str:
        if self.controller is not None:
            self.controller.abort()
        return ""

    def close(self) -> None:
        if self.controller is not None:
            self.controller.abort()
            self.controller.wait(10.0)
            self.controller = None

    def _on_failed(self, message: str) -> None:
        """A grab refused or failed before any line: say why, and still end the grab with data."""
        self.settings.child("progress").setValue("failed")
        self._report(f"grab failed: {message}")
        logger.warning(f"{type(self).__name__}: grab failed: {message}")
        self.dte_signal.emit(self._failed_dte())

    def _report(self, message: str) -> None:
        self.emit_status(ThreadCommand(ThreadStatus.UPDATE_STATUS, f"AEFI flyscan: {message}"))


# ---- PyMoDAQ parameters of the flyscan viewers ----------------------------------------------------
MAP_CHANNELS = {"X, Y, Z in-phase": (0, 2, 4), "X, Y, Z quadrature": (1, 3, 5),
                **{name: (k,) for k, name in enumerate(CHANNEL_NAMES)}}


def viewer_defaults() -> dict:
    """Defaults of the viewer settings, from the package configuration (~/.pymodaq/config_aefi.toml)."""
    from .. import config

    return {"url": config("arcus", "url"), "board_url": config("board", "url"), "step_um": config("arcus", "step_um"),
            **{key: config("flyscan", key) for key in (
                "fast_axis", "slow_axis", "fast_start_mm", "fast_stop_mm", "slow_start_mm", "slow_stop_mm", "lines",
                "speed_mm_s", "points_per_line", "sample_rate_hz", "detector", "save_dir",
                "encoder_counts_per_step")}, "raw": False,
            "differential": False, "excitation_settle_ms": DEFAULT_EXCITATION_SETTLE_MS,
            "detector_lag_ms": _config_or(config, ("flyscan", "detector_lag_ms"), "auto")}


def _config_or(config: Any, path: tuple[str, ...], default: Any) -> Any:
    """A configuration value, or `default` in a configuration written before the key existed."""
    try:
        return config(*path)
    except (KeyError, TypeError):
        return default


def detector_lag_setting(text: Any) -> Optional[float] | str:
    """The viewer's "Detector lag (ms)" text as FlyScanConfig.detector_lag_ms: "auto" → None (measured
    from the raster), a number → that lag; anything else is handed on for the config to refuse by name."""
    value = str(text).strip()
    if value.lower() in ("auto", ""):
        return None
    try:
        return float(value)
    except ValueError:
        return value


def flyscan_params(raster: bool, settings: Mapping[str, Any]) -> list[dict]:
    """The settings tree of a flyscan viewer; `settings` holds the defaults (the package config)."""
    from .links import arcus_link_choices

    axes = ["X", "Y", "Z", "U"]
    params = [
        {"title": "Stage link:", "name": "connection", "type": "list", "limits": arcus_link_choices(settings["url"]),
         "value": settings["url"], "tip": "The Arcus controller; the move plugin on the same link lends it per grab"},
        {"title": "URL:", "name": "url", "type": "str", "value": settings["url"]},
        {"title": "Fast axis:", "name": "fast_axis", "type": "list", "limits": axes, "value": settings["fast_axis"]},
        {"title": "Slow axis:", "name": "slow_axis", "type": "list", "limits": axes, "value": settings["slow_axis"],
         "tip": "Stepped between lines" if raster else "The line is flown where this axis is now"},
        {"title": "Start (mm):", "name": "fast_start_mm", "type": "float", "value": settings["fast_start_mm"]},
        {"title": "Stop (mm):", "name": "fast_stop_mm", "type": "float", "value": settings["fast_stop_mm"]},
    ]
    if raster:
        params += [
            {"title": "Slow start (mm):", "name": "slow_start_mm", "type": "float", "value": settings["slow_start_mm"]},
            {"title": "Slow stop (mm):", "name": "slow_stop_mm", "type": "float", "value": settings["slow_stop_mm"]},
            {"title": "Lines:", "name": "lines", "type": "int", "value": settings["lines"], "min": 1},
            {"title": "Pattern:", "name": "pattern", "type": "list", "limits": ["serpentine", "unidirectional"],
             "value": "serpentine"},
        ]
    params += [
        {"title": "Speed (mm/s):", "name": "speed_mm_s", "type": "float", "value": settings["speed_mm_s"]},
        {"title": "Points per line:", "name": "points_per_line", "type": "int", "value": settings["points_per_line"],
         "min": 2},
        {"title": "Sample rate (Hz):", "name": "sample_rate_hz", "type": "float", "value": settings["sample_rate_hz"]},
        {"title": "Trigger:", "name": "trigger", "type": "list", "limits": ["software", "continuous", "hardware"],
         "value": "software"},
        {"title": "Detector:", "name": "detector", "type": "list", "limits": list(DETECTORS),
         "value": settings["detector"],
         "tip": "daqmx: an NI-DAQmx AI task per line (NI runtime needed); daqmx_sim: the simulated DAQ (sim://)"},
        {"title": "Board URL:", "name": "board_url", "type": "str", "value": settings["board_url"]},
        {"title": "NI-DAQmx:", "name": "daqmx", "type": "group", "expanded": False,
         "tip": "The DAQ detector (daqmx, daqmx_sim): its task samples at the sample rate on its own clock",
         "children": [
             {"title": "AI channels:", "name": "daq_channels", "type": "str",
              "value": DAQ_FIELD_DEFAULTS["daq_channels"],
              "tip": "Up to six, in the order of the AEFI channels (Dev1/ai0:5)"},
             {"title": "Range (± V):", "name": "daq_range_v", "type": "float",
              "value": DAQ_FIELD_DEFAULTS["daq_range_v"], "min": 0.1, "max": 10.0},
             {"title": "Start trigger:", "name": "daq_start_trigger", "type": "list",
              "limits": list(DAQ_START_TRIGGERS), "value": DAQ_FIELD_DEFAULTS["daq_start_trigger"],
              "tip": "syn: each line starts on the Arcus DO1 edge (SYN at the line's first point); "
                     "software: a stamped software start"},
             {"title": "Trigger terminal:", "name": "daq_trigger_source", "type": "str",
              "value": DAQ_FIELD_DEFAULTS["daq_trigger_source"], "tip": "Where DO1 is wired (/Dev1/PFI0)"},
         ]},
        {"title": "Step size (µm):", "name": "step_um", "type": "float", "value": settings["step_um"]},
        {"title": "Encoder (counts/step):", "name": "encoder_counts_per_step", "type": "float",
         "value": settings["encoder_counts_per_step"], "min": 0.0,
         "tip": "Encoder counts per motor step of the fast axis (AMT112Q at 4x on 3200 steps/turn: 2.56); 0 = none. "
                "With one: lost steps stop the scan, samples are placed on the encoder, SYN starts each line"},
        {"title": "Differential:", "name": "differential", "type": "bool", "value": settings["differential"],
         "tip": "Board only: each line flown again with the excitation muted (DDS1/DDS2 gains 0, phase kept); "
                "the baseline and the difference (excited − baseline) come with the data"},
        {"title": "Settle after mute (ms):", "name": "excitation_settle_ms", "type": "float",
         "value": settings["excitation_settle_ms"], "min": 0.0,
         "tip": "Wait after each mute and unmute before the line's samples (50 ms: the bench's step scans' value)"},
        {"title": "Detector lag (ms):", "name": "detector_lag_ms", "type": "str",
         "value": str(settings["detector_lag_ms"]),
         "tip": "Samples are gridded where the probe was at t − lag. auto: measured from the raster's lines flown "
                "both ways" + (" (a single line has nothing to measure it from: give a number)" if not raster else "")
                + "; 0: no compensation"},
    ]
    if raster:
        params += [
            {"title": "Map channels:", "name": "map_channels", "type": "list", "limits": list(MAP_CHANNELS),
             "value": "z_in_phase", "tip": "The channel shown and saved; three channels are shown as red, green "
                                           "and blue"},
            {"title": "Save HDF5 in:", "name": "save_dir", "type": "str", "value": settings["save_dir"],
             "tip": "Every raster is also saved there as a PyMoDAQ-format file (empty: not saved)"},
        ]
    else:
        params.append({"title": "Raw samples:", "name": "raw", "type": "bool", "value": settings["raw"],
                       "tip": "Add every sample as taken (irregular positions) to the data; its length varies "
                              "from line to line, so leave it off inside DAQ_Scan"})
    params.append({"title": "Progress:", "name": "progress", "type": "str", "value": "", "readonly": True})
    return params


def flyscan_request(settings: Any, raster: bool, slow_position_mm: Optional[float] = None) -> dict[str, Any]:
    """The StudyService request of a viewer's settings (a one-line grab flies at `slow_position_mm`)."""
    names = ["fast_axis", "slow_axis", "fast_start_mm", "fast_stop_mm", "speed_mm_s", "points_per_line",
             "sample_rate_hz", "trigger", "detector", "step_um", "encoder_counts_per_step"]
    if raster:
        names += ["slow_start_mm", "slow_stop_mm", "lines", "pattern"]
    request = {name: settings[name] for name in names}
    request["detector_lag_ms"] = detector_lag_setting(settings["detector_lag_ms"])
    if request["detector"] == "board":
        request["trigger"] = "continuous"  # the board's one cadence: back to back, at the pace its averaging sets
    if request["detector"] in DAQ_DETECTORS:
        request["trigger"] = "hardware"  # the DAQ's own sample clock at the sample rate
        request.update({name: settings.child("daqmx", name).value() for name in DAQ_FIELD_DEFAULTS})
    if settings["differential"]:
        request.update(differential=True, excitation_settle_ms=settings["excitation_settle_ms"])
    if not raster:
        request.update(slow_start_mm=slow_position_mm, slow_stop_mm=slow_position_mm, lines=1)
    return request
