"""RawSamples: the raw stream of a flyscan, one row per detector sample, as numpy columns.

The columns mirror the engine's records (docs/architecture.md "Records") with positions already
in millimetres: the domain never sees Arcus steps.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntFlag

import numpy as np

from .measurement import N_CHANNELS, AefiVoltageMeasurement


class SampleFlag(IntFlag):
    """How a sample's position was obtained and what happened to it (engine record `flags`)."""

    ESTIMATED = 2  # position from the engine's motion model (every record; bit 1 is not used)
    MISSED_DEADLINE = 4
    LINE_FIRST = 8
    LINE_LAST = 16
    OUTSIDE_CONSTANT_SPEED = 32
    EXTRAPOLATED = 64  # model extrapolated past the last poll
    DETECTOR_FAULT = 128  # channels are NaN
    BASELINE = 256  # a differential scan's baseline line (excitation muted)


_COLUMNS = {
    "seq": np.uint64,
    "t_ns": np.int64,
    "line": np.int64,
    "fast_mm": np.float64,
    "slow_mm": np.float64,
    "pos_err_mm": np.float64,
    "flags": np.uint32,
}


@dataclass(frozen=True)
class RawSamples:
    """Column arrays of equal length N; `channels_volts` is (N, 6) in CHANNEL_NAMES order."""

    seq: np.ndarray
    t_ns: np.ndarray
    line: np.ndarray
    fast_mm: np.ndarray
    slow_mm: np.ndarray
    pos_err_mm: np.ndarray
    flags: np.ndarray
    channels_volts: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        n = None
        for name, dtype in _COLUMNS.items():
            column = np.asarray(getattr(self, name), dtype=dtype).ravel()
            object.__setattr__(self, name, column)
            if n is None:
                n = column.size
            elif column.size != n:
                raise ValueError(f"column {name} has {column.size} rows, expected {n}")
        channels = np.asarray(self.channels_volts, dtype=np.float64).reshape(-1, N_CHANNELS)
        if channels.shape[0] != n:
            raise ValueError(f"channels_volts has {channels.shape[0]} rows, expected {n}")
        object.__setattr__(self, "channels_volts", channels)

    @classmethod
    def empty(cls) -> RawSamples:
        return cls(**{name: np.empty(0, dtype) for name, dtype in _COLUMNS.items()},
                   channels_volts=np.empty((0, N_CHANNELS)))

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray]) -> RawSamples:
        missing = [name for name in list(_COLUMNS) + ["channels_volts"] if name not in columns]
        if missing:
            raise KeyError(f"raw sample columns missing: {missing}")
        return cls(**{name: columns[name] for name in list(_COLUMNS) + ["channels_volts"]})

    @classmethod
    def concat(cls, parts: Iterable[RawSamples]) -> RawSamples:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls.from_columns({name: np.concatenate([p.columns()[name] for p in parts])
                                 for name in cls.column_names()})

    @staticmethod
    def column_names() -> tuple[str, ...]:
        return tuple(_COLUMNS) + ("channels_volts",)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.column_names()}

    def __len__(self) -> int:
        return int(self.t_ns.size)

    def select(self, mask: np.ndarray) -> RawSamples:
        return RawSamples.from_columns({name: column[mask] for name, column in self.columns().items()})

    def for_line(self, line: int) -> RawSamples:
        return self.select(self.line == line)

    def measurement(self, row: int) -> AefiVoltageMeasurement:
        return AefiVoltageMeasurement.from_volts(self.channels_volts[row], int(self.t_ns[row]))

    def has_flag(self, flag: SampleFlag) -> np.ndarray:
        return (self.flags & np.uint32(flag)) != 0
