"""One AEFI detector reading: six lock-in voltages (X/Y/Z field, in-phase and quadrature)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

#: Channel order everywhere in the project (engine records, numpy columns, HDF5, plots); the Rust
#: engine exports the same list as `_engine.CHANNEL_NAMES` (tests check they agree).
CHANNEL_NAMES: tuple[str, ...] = (
    "x_in_phase",
    "x_quadrature",
    "y_in_phase",
    "y_quadrature",
    "z_in_phase",
    "z_quadrature",
)
N_CHANNELS = len(CHANNEL_NAMES)


@dataclass(frozen=True)
class AefiVoltageMeasurement:
    """The six voltages (V) of one reading, in CHANNEL_NAMES order, stamped in monotonic ns."""

    x_in_phase: float
    x_quadrature: float
    y_in_phase: float
    y_quadrature: float
    z_in_phase: float
    z_quadrature: float
    t_ns: int = 0

    @classmethod
    def from_volts(cls, volts: Sequence[float], t_ns: int = 0) -> AefiVoltageMeasurement:
        values = [float(v) for v in volts]
        if len(values) != N_CHANNELS:
            raise ValueError(f"volts must hold {N_CHANNELS} channels {CHANNEL_NAMES}, got {len(values)}")
        x_in_phase, x_quadrature, y_in_phase, y_quadrature, z_in_phase, z_quadrature = values
        return cls(x_in_phase, x_quadrature, y_in_phase, y_quadrature, z_in_phase, z_quadrature, t_ns=int(t_ns))

    def as_array(self) -> np.ndarray:
        """Volts as a float64 array of shape (6,), CHANNEL_NAMES order."""
        return np.array([getattr(self, name) for name in CHANNEL_NAMES], dtype=np.float64)

    def __iter__(self) -> Iterator[float]:
        return iter(self.as_array().tolist())

    def channel(self, name: str) -> float:
        if name not in CHANNEL_NAMES:
            raise KeyError(f"unknown channel {name!r}; channels are {CHANNEL_NAMES}")
        return float(getattr(self, name))
