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
