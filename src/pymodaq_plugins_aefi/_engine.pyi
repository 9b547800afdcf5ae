"""Type stubs of the Rust extension `pymodaq_plugins_aefi._engine` (crate aefi-scan-engine-py).

This file is the contract between the Rust bindings and the Python adapters. Every blocking call
releases the GIL. Units are in the names: steps (Arcus pulses), pps (pulses/s), ms, ns, volts.
Timestamps are CLOCK_MONOTONIC nanoseconds (`time.monotonic_ns()`).
"""
from typing import Any, Callable, Literal, TypedDict

import numpy as np
import numpy.typing as npt

__version__: str
CHANNEL_NAMES: list[str]  # x_in_phase, x_quadrature, y_in_phase, y_quadrature, z_in_phase, z_quadrature

AxisName = Literal["X", "Y", "Z", "U"]

# ---- errors -------------------------------------------------------------------------------------
class AefiError(Exception): ...
class LinkError(AefiError): ...
class PortBusyError(LinkError): ...
class PortNotFoundError(LinkError): ...
class LinkTimeoutError(LinkError): ...
class UsbUnavailableError(LinkError): ...
class ProtocolError(AefiError): ...
class ControllerError(AefiError):
    code: str  # the reply without '?', e.g. "LIMIT", "PULSING", "ID"
class BoardError(AefiError): ...
class PlanError(AefiError, ValueError):
    field: str  # the plan field that was refused
class ScanAbortedError(AefiError): ...

def mono_ns() -> int: ...

# ---- field map (simulated sample) ---------------------------------------------------------------
def field_map_volts(x_mm: npt.NDArray[np.float64], y_mm: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Noiseless probe voltages (N, 6) at stage points (mm), channel order CHANNEL_NAMES."""

# ---- acquisition board simulator ----------------------------------------------------------------
def serve_board_sim(probe_mm: tuple[float, float] = (38.0, 32.0), timing: Literal["wire", "none"] = "wire",
                    noise_volts: float = 300e-6, seed: int | None = None,
                    on_ready: Callable[[str], None] | None = None) -> Literal["stopped", "unplugged"]:
    """Serve a simulated board on a new PTY (on_ready(path) once); blocks until SIGINT or unplug."""

# ---- Arcus PMX-4EX-SA ---------------------------------------------------------------------------
class AxisStatusDict(TypedDict):
    """Named MST bits of one axis (M 6.15 Table 6.2) and the raw word."""
    moving: bool            # any of accel/decel/constant_speed: the axis is pulsing
    accel: bool
    decel: bool
    constant_speed: bool
    alarm: bool             # alarm input active
    plus_limit: bool        # + limit input active
    minus_limit: bool       # - limit input active
    home_input: bool
    plus_limit_error: bool  # latched until clear()
    minus_limit_error: bool
    alarm_error: bool
    toc_timeout: bool       # TOC communication watchdog expired (bit 11)
    raw: int

class SpeedsDict(TypedDict):
    high_speed_pps: int
    low_speed_pps: int
    accel_ms: int
    decel_ms: int

class ArcusController:
    """One Arcus link: sim://NAME[?baud=&timing=wire|none&device=&...], serial://PATH[?baud=&device=],
    tcp://HOST:PORT[?device=&baud=], usb://4ex00. Opening a serial port is exclusive (PortBusyError
    for a second opener, PortNotFoundError listing the ports that exist). Positions are pulses.
    While a scan has borrowed the link every method raises PortBusyError naming the borrower.
    A `?...` reply raises ControllerError(.code); bad arguments raise ValueError before sending;
    wait_idle raises TimeoutError."""
    def __init__(self, url: str, timeout_s: float = 1.0) -> None: ...
    @property
    def url(self) -> str: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def is_lent(self) -> bool: ...
    @property
    def borrower(self) -> str | None: ...
    def query(self, cmd: str) -> str:
        """Raw command text without framing (e.g. "PX"); returns the reply text."""
    def position(self, axis: AxisName) -> int: ...
    def positions(self) -> dict[str, int]:
        """{"X": .., "Y": .., "Z": .., "U": ..} from one PP exchange."""
    def status(self, axis: AxisName) -> AxisStatusDict: ...
    def is_moving(self, axis: AxisName | None = None) -> bool: ...
    def move_abs(self, axis: AxisName, target_steps: int) -> None: ...
    def move_rel(self, axis: AxisName, delta_steps: int) -> None: ...
    def jog(self, axis: AxisName, positive: bool = True) -> None: ...
    def stop(self, axis: AxisName | None = None) -> None:
        """Decelerated stop (all axes when None)."""
    def abort(self, axis: AxisName | None = None) -> None:
        """Immediate stop (all axes when None)."""
    def home(self, axis: AxisName, positive: bool = False, mode: int = 0) -> None:
        """Start homing, mode 0..4 (the simulator refuses 2 and 3); returns at once."""
    def set_position(self, axis: AxisName, steps: int) -> None: ...
    def speeds(self, axis: AxisName) -> SpeedsDict:
        """Effective values: per-axis where non-zero, else global."""
    def set_speeds(self, axis: AxisName, high_speed_pps: int | None = None, low_speed_pps: int | None = None,
                   accel_ms: int | None = None, decel_ms: int | None = None) -> None: ...
    def clear(self, axis: AxisName | None = None) -> None:
        """Clear latched limit/alarm errors (all axes when None)."""
    def enable(self, axis: AxisName, on: bool = True) -> None: ...
    def wait_idle(self, axis: AxisName | None = None, timeout_s: float = 30.0) -> None: ...
    def wire_limit_hz(self) -> float | None:
        """Most PX polls/s the baud allows (None: baud unknown, e.g. TCP without ?baud=)."""
    def close(self) -> None: ...
    def __enter__(self) -> "ArcusController": ...
    def __exit__(self, *exc: Any) -> bool: ...

# ---- Arcus simulator ----------------------------------------------------------------------------
def sim_truth(url: str, axis: AxisName, t_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Exact true positions (pulses, counter frame) of an in-process sim:// bench at the instants."""
def sim_truth_log(url: str) -> str:
    """The bench's motion log as JSON (the format of aefi-arcus-sim --truth-log)."""
def sim_inject_fault(url: str, kind: Literal["drop", "garble", "delay", "disconnect", "reconnect", "limit",
                                             "stall", "unstall", "input"], **params: Any) -> None:
    """Fault now in an in-process bench: drop(count=1), garble(count=1), delay(delay_ms, count=1),
    disconnect, reconnect, limit(axis, position_steps), stall(axis), unstall(axis), input(input, on=True)."""
