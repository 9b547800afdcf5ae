"""Ground truth of the simulated stage, read from `aefi-arcus-sim --truth-log FILE`.

The simulator's log (Rust `sim::arcus::truth::TruthLog`, serialised with serde) holds, per axis
in the order X, Y, Z, U: the commanded motion as constant-acceleration pieces
`{t0_ns, dur_ns, x0, v0, a, phase}`, counter offsets `[t_ns, offset]` (homing, `P=`), and
stalls `[start_ns, end_ns]`. The true position follows exactly, as the simulator computes it:
    commanded(t) = x0 + v0·τ + a·τ²/2 on the last piece starting at or before t (τ clamped to it)
    lag(t)       = Σ over stalls (s, e) with s ≤ t of commanded(min(t, e)) − commanded(s)
    true(t)      = commanded(t) − lag(t) − offset(t)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

AXES = ("X", "Y", "Z", "U")


@dataclass(frozen=True)
class AxisTruth:
    """One axis of the log, as arrays (ns, pulses, pulses/s, pulses/s²)."""

    t0_ns: np.ndarray
    dur_ns: np.ndarray
    x0: np.ndarray
    v0: np.ndarray
    a: np.ndarray
    offsets: tuple[tuple[int, float], ...] = ()
    stalls: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "AxisTruth":
        pieces = doc["pieces"]
        if not pieces:
            raise ValueError("truth log: an axis has no motion pieces")
        return cls(
            t0_ns=np.array([p["t0_ns"] for p in pieces], dtype=np.int64),
            dur_ns=np.array([p["dur_ns"] for p in pieces], dtype=np.int64),
            x0=np.array([p["x0"] for p in pieces], dtype=np.float64),
            v0=np.array([p["v0"] for p in pieces], dtype=np.float64),
            a=np.array([p["a"] for p in pieces], dtype=np.float64),
            offsets=tuple((int(t), float(o)) for t, o in doc.get("offsets", [])),
            stalls=tuple((int(s), int(e)) for s, e in doc.get("stalls", [])),
        )

    def commanded(self, t_ns: np.ndarray) -> np.ndarray:
        i = np.clip(np.searchsorted(self.t0_ns, t_ns, side="right") - 1, 0, None)
        t0 = self.t0_ns[i]
        tau = (np.clip(t_ns, t0, t0 + self.dur_ns[i]) - t0) / 1e9
        return self.x0[i] + self.v0[i] * tau + 0.5 * self.a[i] * tau * tau

    def true_position(self, t_ns: np.ndarray) -> np.ndarray:
        t = np.asarray(t_ns, dtype=np.int64)
        out = self.commanded(t)
        for start, end in self.stalls:
            stalled = t >= start
            if np.any(stalled):
                ts = t[stalled]
                out[stalled] -= self.commanded(np.minimum(ts, end)) - self.commanded(np.full(ts.shape, start))
        offset = np.zeros(t.shape)
        for t_set, value in self.offsets:  # sorted by time: later ones override
            offset[t >= t_set] = value
        return out - offset


class TruthLog:
    """The simulator's motion log; `position_steps(axis, t_ns)` is the true counter position."""

    def __init__(self, axes: Mapping[str, AxisTruth], t_start_ns: int = 0) -> None:
        self._axes = dict(axes)
        self.t_start_ns = t_start_ns

    @classmethod
    def load(cls, path: Path) -> "TruthLog":
        return cls.from_json(json.loads(Path(path).read_text()))

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> "TruthLog":
        axes = {name: AxisTruth.from_json(raw) for name, raw in zip(AXES, doc["axes"])}
        return cls(axes, int(doc.get("t_start_ns", 0)))

    def position_steps(self, axis: str, t_ns: Sequence[int] | np.ndarray) -> np.ndarray:
        """True position (steps, the counter's frame at each instant) of `axis`."""
        if axis not in self._axes:
            raise ValueError(f"axis must be one of {sorted(self._axes)}, got {axis!r}")
        return self._axes[axis].true_position(np.asarray(t_ns, dtype=np.int64))
