"""The simulated DAQ: an AI task of the same shape as NI-DAQmx's, on an in-process simulated bench.

Its sample clock ticks at start + index / rate exactly; each tick reads the known field map
(`_engine.field_map_volts`) at the probe's *true* X/Y position at that instant (`_engine.sim_truth`,
the Arcus simulator's ground truth), plus seeded white noise, clipped to the ± range. Samples
become readable when the engine clock passes their tick, into a buffer of `buffer_samples`: a
reader that falls further behind gets `DaqOverrunError`, as DAQmx's error -200279.

The start:
- *syn*: PFI0 is wired to the Arcus DO1, which the fast axis' SYN compare drives; the clock starts at
  the simulator's SYN instant (`_engine.sim_sync_event`: the exact instant the true encoder count
  meets the compare value) if it comes after the task was armed. While SYN is off (an engine that
  does not arm it) the wire is driven where that compare would fire: the first true crossing of the
  line's first grid point, in the line's direction, after arming (`_engine.sim_crossing_ns`).
- *software*: the clock starts when `start()` returns; the driver's start latency (uniform in
  `software_latency_s`, seeded) and the scheduling of the calling thread make it later than the
  instant the caller stamped just before calling.

Why Python fed by the simulator's published truth, and not a Rust device in aefi-sim: the DAQ
adapter is Python (nidaqmx), so the simulator sits behind the same Python task interface and
exercises the same reading thread, feed and error paths; the truth it needs (exact positions at any
instant, the SYN instant) is already published by the Arcus simulator, so no second copy of the
motion model exists.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional, cast

import numpy as np

from .. import _engine
from .daq_tasks import AiTask, AiTaskSpec, DaqError, DaqOverrunError

#: How often a waiting read looks at the clock and the trigger (s).
_POLL_S = 0.0005
#: How far after a crossing the direction of travel is read (ns).
_DIRECTION_PROBE_NS = 100_000


@dataclass
class SimDaqTruth:
    """What the simulated DAQ really did, per line (the truth checks and figures read it)."""

    #: line → the instant its sample clock really started (engine-clock ns)
    starts: dict[int, int] = field(default_factory=dict)


class SimulatedDaq:
    """Task factory of the simulated DAQ on the bench of `arcus_url` (sim://NAME)."""

    name = "daqmx_sim"

    def __init__(self, arcus_url: str, fast_axis: str = "X", step_mm: float = 0.0218, noise_volts: float = 0.0,
                 seed: Optional[int] = None, software_latency_s: tuple[float, float] = (200e-6, 1e-3)) -> None:
        self.arcus_url = arcus_url
        self.fast_axis = fast_axis
        self.step_mm = step_mm
        self.noise_volts = noise_volts
        self.software_latency_s = software_latency_s
        self._rng = np.random.default_rng(seed)
        self.truth = SimDaqTruth()

    def check(self) -> None:
        try:
            _engine.sim_truth(self.arcus_url, "X", np.zeros(1, dtype=np.int64))
        except (_engine.AefiError, ValueError) as err:
            raise DaqError(f"the simulated DAQ needs an in-process simulated bench: {err}") from err

    def make(self, spec: AiTaskSpec, line: int, syn_compare_steps: Optional[float] = None,
             direction: int = 0) -> AiTask:
        """The task of `line`; `syn_compare_steps` and `direction` (+1/-1, 0: either) say where the
        SYN compare fires when the bench's SYN is off."""
        if len(spec.channels) > 6:
            raise DaqError(f"the simulated DAQ has 6 channels, {len(spec.channels)} asked")
        seed = int(self._rng.integers(0, 2**63))
        return SimAiTask(self, spec, line, syn_compare_steps, direction, np.random.default_rng(seed))


class SimAiTask:
    """One line's task on the simulated DAQ."""

    def __init__(self, daq: SimulatedDaq, spec: AiTaskSpec, line: int, syn_compare_steps: Optional[float],
                 direction: int, rng: np.random.Generator) -> None:
        self.daq, self.spec, self.line = daq, spec, line
        self._compare = syn_compare_steps
        self._direction = direction
        self._rng = rng
        self._armed_ns = int(_engine.now_ns())
        self._started = False
        self._t0_ns: Optional[int] = None
        self._read = 0
        self._buffer = spec.buffer_samples or spec.n_samples

    # ---- the task interface -------------------------------------------------------------------------
    def start(self) -> None:
        self._started = True
        if self.spec.start == "software":
            lo, hi = self.daq.software_latency_s
            _sleep_s(float(self._rng.uniform(lo, hi)))
            self._t0_ns = int(_engine.now_ns())

    def read(self, max_samples: int, timeout_s: float) -> np.ndarray:
        deadline = time.monotonic() + timeout_s
        while True:
            t0 = self._clock_start()
            if t0 is not None:
                now = int(_engine.now_ns())
                ticked = 0 if now < t0 else min(self.spec.n_samples, int((now - t0) // self.spec.period_ns) + 1)
                if ticked - self._read > self._buffer:
                    raise DaqOverrunError(
                        f"line {self.line}: samples overwritten before they were read (-200279): "
                        f"{ticked - self._read} waiting in a buffer of {self._buffer}")
                if ticked > self._read:
                    return self._samples(self._read, min(ticked, self._read + max_samples))
                if self._read >= self.spec.n_samples:
                    return np.empty((0, len(self.spec.channels)))
            if time.monotonic() >= deadline:
                return np.empty((0, len(self.spec.channels)))
            _sleep_s(_POLL_S)

    def start_instant_ns(self) -> Optional[int]:
        # The wire's edge: the engine's SYN stamp on hardware, the simulator's instant here.
        return self._t0_ns if self.spec.start == "syn" else None

    @property
    def samples_read(self) -> int:
        return self._read

    def close(self) -> None:
        if self._t0_ns is not None:
            self.daq.truth.starts[self.line] = self._t0_ns

    # ---- internals ----------------------------------------------------------------------------------
    def _clock_start(self) -> Optional[int]:
        if self._t0_ns is not None or not self._started or self.spec.start != "syn":
            return self._t0_ns
        url, axis = self.daq.arcus_url, self.daq.fast_axis
        sync = _engine.sim_sync_event(url, axis)
        if sync is not None:
            _, event = sync
            if event is not None and event >= self._armed_ns:
                self._t0_ns = int(event)
        elif self._compare is not None:
            self._t0_ns = self._crossing(float(self._compare))
        return self._t0_ns

    def _crossing(self, position_steps: float) -> Optional[int]:
        """The first true crossing of `position_steps` since arming, in the line's direction (a
        return move crosses the line's first point the other way first)."""
        url, axis = self.daq.arcus_url, cast(Any, self.daq.fast_axis)  # an AxisName, checked by the config
        after = self._armed_ns
        for _ in range(8):
            t = _engine.sim_crossing_ns(url, axis, position_steps, after)
            if t is None:
                return None
            x = _engine.sim_truth(url, axis, np.array([t, t + _DIRECTION_PROBE_NS], dtype=np.int64))
            if self._direction == 0 or (x[1] - x[0]) * self._direction > 0:
                return int(t)
            after = int(t) + _DIRECTION_PROBE_NS
        return None

    def _samples(self, first: int, stop: int) -> np.ndarray:
        assert self._t0_ns is not None
        idx = np.arange(first, stop, dtype=np.int64)
        t = self._t0_ns + np.round(idx * self.spec.period_ns).astype(np.int64)
        url, step_mm = self.daq.arcus_url, self.daq.step_mm
        x_mm = _engine.sim_truth(url, "X", t) * step_mm
        y_mm = _engine.sim_truth(url, "Y", t) * step_mm
        volts = _engine.field_map_volts(x_mm, y_mm)[:, : len(self.spec.channels)]
        if self.daq.noise_volts > 0:
            volts = volts + self._rng.normal(0.0, self.daq.noise_volts, volts.shape)
        self._read = stop
        return np.clip(volts, -self.spec.range_v, self.spec.range_v)


def _sleep_s(seconds: float) -> None:
    time.sleep(max(0.0, seconds))
