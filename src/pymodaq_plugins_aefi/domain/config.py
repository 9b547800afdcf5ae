"""FlyScanConfig: what the user asks for, in physical units (mm, mm/s, Hz), checked on creation.

Every refusal names the parameter and its allowed range (`InvalidScanConfig.field`), before any
motion. The controller checks its own limits again (speed against its HS, run-up room) when the
engine receives the plan; these are the checks that need no hardware.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Optional

import numpy as np

from .errors import InvalidScanConfig
from .units import DEFAULT_STEP_UM, StepScale

AXES = ("X", "Y", "Z", "U")
PATTERNS = ("serpentine", "unidirectional")
TRIGGERS = ("software", "continuous", "hardware")
DETECTORS = ("virtual_probe", "board", "none", "daqmx", "daqmx_sim")
#: The NI-DAQmx detector and its simulator: a hardware-timed AI task per line (trigger "hardware").
DAQ_DETECTORS = ("daqmx", "daqmx_sim")
#: How a line's AI task starts: the Arcus SYN compare output on a PFI line, or a stamped software start.
DAQ_START_TRIGGERS = ("syn", "software")
#: The engine takes six channels per sample (CHANNEL_NAMES); a task may read fewer (the rest are NaN).
MAX_DAQ_CHANNELS = 6

#: Stage travel of the bench (ScanZone of the legacy app): 0–1200 mm.
TRAVEL_MIN_MM = 0.0
TRAVEL_MAX_MM = 1200.0
#: The fastest legacy speed mode (HS 3000 pulses/s); the bench's usual HS is 1500.
MAX_SPEED_PPS = 3000.0
#: What the PMX-4EX-SA can represent (arcus::limits, read by Python as _engine.POSITION_*_STEPS and
#: MIN/MAX_SPEED_PPS; a test holds these equal): its 32-bit position counter and its HS/LS window.
POSITION_MIN_STEPS = -(2**31)
POSITION_MAX_STEPS = 2**31 - 1
CONTROLLER_SPEED_WINDOW_PPS = (1.0, 6_000_000.0)
MAX_SAMPLE_RATE_HZ = 50_000.0
MAX_LINES = 10_000
MAX_POINTS_PER_LINE = 100_000
#: The engine's bound on encoder counts per step.
MAX_ENCODER_COUNTS_PER_STEP = 1000.0
#: Settle time after a mute or an unmute of the excitation (ms), as in the bench's step scans.
DEFAULT_EXCITATION_SETTLE_MS = 50.0
MAX_EXCITATION_SETTLE_MS = 10_000.0
#: Seeds are 64-bit unsigned integers (the simulators' noise generators).
MAX_SEED = 2**64 - 1
_FLOAT_FIELDS = ("step_um", "travel_min_mm", "travel_max_mm", "fast_start_mm", "fast_stop_mm", "slow_start_mm",
                 "slow_stop_mm", "max_speed_pps", "speed_mm_s", "sample_rate_hz", "settle_ms", "excitation_settle_ms")
#: Longest detector lag one can configure (ms): far beyond any lock-in output filter a flyscan can use.
MAX_DETECTOR_LAG_MS = 500.0


def _is_number(value: object) -> bool:
    # bool is an int to Python, never a length or a rate to a user
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _finite(name: str, value: object) -> float:
    if not _is_number(value):
        raise InvalidScanConfig(name, f"must be a finite number, got {_shown(value)}")
    try:
        number = float(value)  # type: ignore[arg-type]  # a real number, checked above
    except OverflowError:
        number = math.inf  # an int past the float range
    if not math.isfinite(number):
        raise InvalidScanConfig(name, f"must be a finite number, got {_shown(value)}")
    return number


def _shown(value: object) -> str:
    """The refused value for a message: its repr, cut short (a file may hold anything)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _in_range(name: str, value: float, low: float, high: float, unit: str) -> None:
    if not low <= value <= high:
        raise InvalidScanConfig(name, f"{value:g} {unit} is outside the allowed range [{low:g}, {high:g}] {unit}")


def _choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise InvalidScanConfig(name, f"{_shown(value)} is not one of {', '.join(allowed)}")


def expand_ai_channels(spec: str) -> list[str]:
    """NI-DAQmx physical channels of `spec`: "Dev1/ai0:5" → Dev1/ai0 … Dev1/ai5; comma lists allowed."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        head, _, last = part.rpartition(":")
        prefix = head.rstrip("0123456789")
        first = head[len(prefix):]
        if head and first and last.isdigit() and "/" in prefix:
            lo, hi = int(first), int(last)
            step = 1 if hi >= lo else -1
            out.extend(f"{prefix}{k}" for k in range(lo, hi + step, step))
        elif "/" in part and ":" not in part:
            out.append(part)
        else:
            raise InvalidScanConfig("daq_channels",
                                    f"{part!r} is not a channel like Dev1/ai0 or a range like Dev1/ai0:5")
    if not out:
        raise InvalidScanConfig("daq_channels", "no channel given (e.g. Dev1/ai0:5)")
    return out


def _count(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise InvalidScanConfig(name, f"must be a whole number in [{low}, {high}], got {_shown(value)}")
    if not low <= value <= high:
        raise InvalidScanConfig(name, f"{_shown(value)} is outside the allowed range [{low}, {high}]")
    return int(value)


def _whole(name: str, value: object) -> object:
    """A count read from a file: 13.0 is 13; anything else is handed on as is for _count to refuse."""
    if isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class FlyScanConfig:
    """A 2D raster flyscan: the fast axis flies at constant speed, the slow axis steps between lines.

    The map grid has `points_per_line` columns from fast_start_mm to fast_stop_mm and `lines` rows
    from slow_start_mm to slow_stop_mm; a triggered detector is sampled at `sample_rate_hz` while
    flying, the board back to back at the pace its averaging (`board_n_avg`) gives (trigger
    "continuous"; `sample_rate_hz` does not apply to it).
    """

    fast_start_mm: float
    fast_stop_mm: float
    slow_start_mm: float
    slow_stop_mm: float
    lines: int
    points_per_line: int
    speed_mm_s: float
    sample_rate_hz: float = 1000.0
    fast_axis: str = "X"
    slow_axis: str = "Y"
    pattern: Literal["serpentine", "unidirectional"] = "serpentine"
    trigger: Literal["software", "continuous", "hardware"] = "software"
    detector: Literal["virtual_probe", "board", "none", "daqmx", "daqmx_sim"] = "virtual_probe"
    board_n_avg: int = 1
    settle_ms: float = 0.0
    step_um: float = DEFAULT_STEP_UM
    travel_min_mm: float = TRAVEL_MIN_MM
    travel_max_mm: float = TRAVEL_MAX_MM
    max_speed_pps: float = MAX_SPEED_PPS
    #: Seed of the simulated noise (virtual probe, simulated board): a run can be repeated. None: fresh.
    seed: Optional[int] = None
    #: Encoder counts per motor step of the fast axis (the AMT112Q at 4x on a 3200-step turn: 2.56);
    #: 0 = no encoder. With one, the engine reads it beside every position poll, stops on lost steps,
    #: positions the samples on it and starts each line's compare output (SYN) at its first grid point.
    encoder_counts_per_step: float = 0.0
    #: Differential scan (board only): each line is flown twice at its slow position, excited and then
    #: with the excitation muted (the board's DDS1/DDS2 gains at 0; phase and frequency untouched), and
    #: the map is given with its baseline and their difference.
    differential: bool = False
    #: Wait after each mute and unmute before the next line's samples (ms); the bench's differential
    #: step scans use 50 ms (not yet validated on the bench).
    excitation_settle_ms: float = DEFAULT_EXCITATION_SETTLE_MS
    #: NI-DAQmx detector (daqmx, daqmx_sim): AI channels, ± input range, how each line's task starts
    #: and the terminal its digital start trigger is wired to (the Arcus DO1, SYN of the fast axis).
    #: The task's sample clock runs at `sample_rate_hz`.
    daq_channels: str = "Dev1/ai0:5"
    daq_range_v: float = 10.0
    daq_start_trigger: Literal["syn", "software"] = "syn"
    daq_trigger_source: str = "/Dev1/PFI0"
    #: The detector's lag (ms): each sample is gridded where the probe was at t − lag. None: measured from
    #: the scan itself (serpentine lines flown both ways) and applied when it can be; 0: no compensation.
    detector_lag_ms: Optional[float] = None
    scale: StepScale = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _choice("fast_axis", self.fast_axis, AXES)
        _choice("slow_axis", self.slow_axis, AXES)
        if self.fast_axis == self.slow_axis:
            raise InvalidScanConfig("slow_axis", f"must differ from fast_axis ({self.fast_axis})")
        _choice("pattern", self.pattern, PATTERNS)
        _choice("trigger", self.trigger, TRIGGERS)
        _choice("detector", self.detector, DETECTORS)
        if self.detector == "board" and self.trigger != "continuous":
            raise InvalidScanConfig(
                "trigger",
                "the board is read back to back at its own pace (trigger 'continuous'): no trigger rate applies; "
                "its rate is set by board_n_avg (~87 Hz at 1 average, ~24 Hz at 127)",
            )
        if self.detector in DAQ_DETECTORS:
            self._check_daq()
        # Values are stored as plain floats and ints once checked (numpy scalars, ints from a file),
        # so every later computation and every file sees one type.
        for name in _FLOAT_FIELDS:
            object.__setattr__(self, name, _finite(name, getattr(self, name)))
        _in_range("step_um", self.step_um, 0.01, 1000.0, "µm")
        object.__setattr__(self, "scale", StepScale(self.step_um))
        travel_min, travel_max = self.travel_min_mm, self.travel_max_mm
        # every position of the plan (run-up and run-out too, checked by the engine) lies in the travel
        for name in ("travel_min_mm", "travel_max_mm"):
            self._in_position_counter(name, getattr(self, name))
        if not travel_min < travel_max:
            raise InvalidScanConfig("travel_max_mm", f"must exceed travel_min_mm ({travel_min:g} mm)")
        for name in ("fast_start_mm", "fast_stop_mm", "slow_start_mm", "slow_stop_mm"):
            _in_range(name, getattr(self, name), travel_min, travel_max, "mm")
        object.__setattr__(self, "lines", _count("lines", self.lines, 1, MAX_LINES))
        points = _count("points_per_line", self.points_per_line, 2, MAX_POINTS_PER_LINE)
        object.__setattr__(self, "points_per_line", points)
        # the MCU averages 1..255 per sample (board protocol)
        object.__setattr__(self, "board_n_avg", _count("board_n_avg", self.board_n_avg, 1, 255))
        if self.seed is not None:
            object.__setattr__(self, "seed", _count("seed", self.seed, 0, MAX_SEED))
        if self.detector_lag_ms is not None:
            _in_range("detector_lag_ms", _finite("detector_lag_ms", self.detector_lag_ms), 0.0, MAX_DETECTOR_LAG_MS,
                      "ms")
        if self.fast_span_mm < 10 * self.scale.step_mm:
            raise InvalidScanConfig(
                "fast_stop_mm", f"the fast span must be at least 10 steps ({10 * self.scale.step_mm:g} mm)"
            )
        if self.lines > 1 and self.slow_start_mm == self.slow_stop_mm:
            raise InvalidScanConfig("slow_stop_mm", "must differ from slow_start_mm when lines > 1")
        low_pps, high_pps = CONTROLLER_SPEED_WINDOW_PPS
        _in_range("max_speed_pps", self.max_speed_pps, low_pps, high_pps, "pps")
        max_speed_pps, speed_mm_s = self.max_speed_pps, self.speed_mm_s
        if speed_mm_s > max_speed_pps * self.scale.step_mm * (1 + 1e-9):
            from .speeds import over_limit_message

            raise InvalidScanConfig("speed_mm_s", over_limit_message(speed_mm_s, self.speed_pps, max_speed_pps,
                                                                     self.scale.step_mm))
        _in_range("speed_mm_s", speed_mm_s, self.scale.step_mm, max_speed_pps * self.scale.step_mm, "mm/s")
        _in_range("sample_rate_hz", _finite("sample_rate_hz", self.sample_rate_hz), 1.0, MAX_SAMPLE_RATE_HZ, "Hz")
        _in_range("settle_ms", _finite("settle_ms", self.settle_ms), 0.0, 60_000.0, "ms")
        _in_range("encoder_counts_per_step", _finite("encoder_counts_per_step", self.encoder_counts_per_step),
                  0.0, MAX_ENCODER_COUNTS_PER_STEP, "counts/step")
        if not isinstance(self.differential, (bool, np.bool_)):
            raise InvalidScanConfig("differential", f"must be true or false, got {_shown(self.differential)}")
        object.__setattr__(self, "differential", bool(self.differential))
        if self.differential and self.detector != "board":
            raise InvalidScanConfig(
                "differential", f"needs the board detector, whose DDS1/DDS2 gains mute the excitation "
                                f"(detector is {self.detector!r})")
        _in_range("excitation_settle_ms", self.excitation_settle_ms, 0.0, MAX_EXCITATION_SETTLE_MS, "ms")
        # Every map cell must see at least one sample, or the map has holes by construction.
        if self.trigger != "continuous" and self.sample_spacing_mm > self.fast_pitch_mm:
            raise InvalidScanConfig(
                "sample_rate_hz",
                f"{self.sample_rate_hz:g} Hz at {self.speed_mm_s:g} mm/s spaces samples "
                f"{self.sample_spacing_mm:.4g} mm apart, wider than the map pitch {self.fast_pitch_mm:.4g} mm; "
                f"use at least {self.speed_mm_s / self.fast_pitch_mm:.4g} Hz or fewer points_per_line",
            )

    def _in_position_counter(self, name: str, position_mm: float) -> None:
        steps = self.scale.to_steps(position_mm)
        if not POSITION_MIN_STEPS <= steps <= POSITION_MAX_STEPS:
            limit_mm = POSITION_MAX_STEPS * self.scale.step_mm
            raise InvalidScanConfig(
                name,
                f"{position_mm:g} mm is {steps:.4g} steps at {self.step_um:g} µm/step, outside the controller's "
                f"32-bit position counter [{POSITION_MIN_STEPS}, {POSITION_MAX_STEPS}] steps (±{limit_mm:.2f} mm)",
            )

    def _check_daq(self) -> None:
        if self.trigger != "hardware":
            raise InvalidScanConfig(
                "trigger",
                f"the DAQ samples on its own clock at sample_rate_hz: trigger 'hardware', not {self.trigger!r}")
        _choice("daq_start_trigger", self.daq_start_trigger, DAQ_START_TRIGGERS)
        for name in ("daq_channels", "daq_trigger_source"):
            if not isinstance(getattr(self, name), str):
                raise InvalidScanConfig(name, f"must be text, got {_shown(getattr(self, name))}")
        channels = expand_ai_channels(self.daq_channels)
        if len(channels) > MAX_DAQ_CHANNELS:
            raise InvalidScanConfig("daq_channels",
                                    f"{len(channels)} channels; the engine takes at most {MAX_DAQ_CHANNELS}")
        _in_range("daq_range_v", _finite("daq_range_v", self.daq_range_v), 0.1, 10.0, "V")
        if self.daq_start_trigger == "syn" and not self.daq_trigger_source.strip():
            raise InvalidScanConfig("daq_trigger_source",
                                    "the SYN start needs the terminal DO1 is wired to (e.g. /Dev1/PFI0)")

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain values (for files and plan provenance)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FlyScanConfig:
        """Rebuild from `to_dict()` output; unknown keys are refused (a typo must not pass silently)."""
        known = {f.name: f for f in fields(cls) if f.init}
        # a key may be anything a file holds: named by its repr unless it reads as a parameter name
        unknown = sorted(k if isinstance(k, str) and k.isidentifier() else repr(k) for k in values if k not in known)
        if unknown:
            raise InvalidScanConfig(unknown[0], f"unknown parameter; known: {', '.join(known)}")
        missing = [name for name, f in known.items() if name not in values and f.default is MISSING]
        if missing:
            raise InvalidScanConfig(missing[0], "missing (a required parameter)")
        ints = ("lines", "points_per_line", "board_n_avg", "seed")
        parameters: dict[str, Any] = {k: (_whole(k, v) if k in ints else v) for k, v in values.items()}
        if isinstance(parameters.get("differential"), np.bool_):
            parameters["differential"] = bool(parameters["differential"])
        return cls(**parameters)

    # ---- derived values (units in the names) ------------------------------------------------------
    @property
    def fast_span_mm(self) -> float:
        return abs(self.fast_stop_mm - self.fast_start_mm)

    @property
    def fast_pitch_mm(self) -> float:
        """Distance between map columns."""
        return self.fast_span_mm / (self.points_per_line - 1)

    @property
    def slow_pitch_mm(self) -> float:
        """Distance between lines (0 for a single line)."""
        return abs(self.slow_stop_mm - self.slow_start_mm) / (self.lines - 1) if self.lines > 1 else 0.0

    @property
    def sample_spacing_mm(self) -> float:
        """Distance flown between two triggered samples."""
        return self.speed_mm_s / self.sample_rate_hz

    @property
    def stall_detection(self) -> str:
        """How a stalled motor is seen: "encoder" when the scan reads the fast axis' encoder, else
        "unavailable" (the controller counts the pulses it sends, whether the motor follows or not)."""
        return "encoder" if self.encoder_counts_per_step > 0 else "unavailable"

    @property
    def speed_pps(self) -> float:
        return self.scale.speed_to_pps(self.speed_mm_s)

    @property
    def fast_axis_mm(self) -> np.ndarray:
        """Map column centres (mm), from fast_start_mm to fast_stop_mm."""
        return np.linspace(self.fast_start_mm, self.fast_stop_mm, self.points_per_line)

    @property
    def slow_axis_mm(self) -> np.ndarray:
        """Map row centres (mm), one per line, from slow_start_mm to slow_stop_mm."""
        return np.linspace(self.slow_start_mm, self.slow_stop_mm, self.lines)

    @property
    def point_count(self) -> int:
        return self.lines * self.points_per_line

    @property
    def flights(self) -> int:
        """Lines flown: two per map line in a differential scan (excited, then baseline)."""
        return 2 * self.lines if self.differential else self.lines

    def line_direction(self, line: int) -> int:
        """+1 when line `line` flies from fast_start to fast_stop, -1 the other way (serpentine)."""
        return -1 if self.pattern == "serpentine" and line % 2 == 1 else 1
