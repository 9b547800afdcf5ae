"""The NI-DAQmx detector: one hardware-timed AI task per flyscan line, fed to the engine.

The engine flies the scan with `detector="external"` (cadence "hardware_clocked"): it positions
each sample it is given from its own model of the line at the sample's instant. This feeder runs on
its own thread for the whole scan. For each line the engine flies it makes the line's task (the
plan's channels, range and rate; finite samples sized from the line), starts it, reads its buffer in
blocks and feeds every block to the engine's external stream with the sample instants
`start + index / rate`:

- SYN start: the task waits for the digital edge of the Arcus DO1 (the fast axis' SYN compare at
  the line's first grid point) on its PFI terminal; `start` is the edge's instant (the device's when
  it knows it on the engine clock, else placed from the arrival of the first samples). The line's
  samples are exactly span / speed · rate + 1, the first at the first grid point.
- Software start: `start` is the engine-clock instant stamped just before the task's start call;
  the clock really starts later by the driver's latency (the software trigger's lateness), and
  the task covers the run-up too (the engine drops the samples outside the span).

A DAQ failure (overrun, refused task, a start edge that never came) aborts the scan, and the
error is handed to the scan port, which reports the scan failed with it.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from .. import _engine
from ..domain.config import FlyScanConfig
from .daq_tasks import AiTaskSpec, DaqError

#: Time a software-started task covers before the span (the run-up from the line's start).
SOFTWARE_RUNUP_ALLOWANCE_S = 2.0
#: Most samples read at once (s of samples): a read takes what the buffer holds, so a reader that
#: was held up catches up in a few reads, before the engine closes the line. A read waits at most
#: READ_TIMEOUT_S for a first sample.
MAX_BLOCK_S = 0.1
READ_TIMEOUT_S = 0.005
_FINAL = {"completed", "aborted", "failed", "idle"}
#: Engine states in which the current line is still to come.
_BEFORE_LINE = {"ready", "between_lines"}
_LIVE = _BEFORE_LINE | {"flying"}


@dataclass(frozen=True)
class LineGeometry:
    """What a line's task needs from the plan (steps, pulses/s)."""

    first_steps: float  # the line's first grid point (SYN compare position)
    span_steps: float
    speed_pps: float

    @property
    def span_s(self) -> float:
        return self.span_steps / self.speed_pps


def line_geometry(config: FlyScanConfig, plan: dict[str, Any], line: int) -> LineGeometry:
    start, stop = float(plan["fast_start_steps"]), float(plan["fast_stop_steps"])
    first = start if config.line_direction(line) > 0 else stop  # the engine flies odd serpentine lines back
    return LineGeometry(first, abs(stop - start), float(plan["speed_pps"]))


def line_task_spec(config: FlyScanConfig, geometry: LineGeometry) -> AiTaskSpec:
    """The line's finite task: SYN-started from the first grid point to the last; software-started
    from before the run-up (the engine keeps the samples inside the span)."""
    rate = config.sample_rate_hz
    if config.daq_start_trigger == "syn":
        n = int(math.floor(geometry.span_s * rate + 1e-9)) + 1
    else:
        n = int(math.ceil((geometry.span_s + SOFTWARE_RUNUP_ALLOWANCE_S) * rate))
    return AiTaskSpec.of(config.daq_channels, config.daq_range_v, rate, n, config.daq_start_trigger,
                         config.daq_trigger_source)


@dataclass
class LineFeed:
    """What the feeder did for one line."""

    line: int
    start_ns: int  # the instant the samples are placed from
    stamped: bool  # True: a software stamp; False: the start edge
    samples: int


@dataclass
class FeedReport:
    lines: dict[int, LineFeed] = field(default_factory=dict)
    error: Optional[DaqError] = None


class DaqFeeder:
    """Feeds `executor` (an `_engine.RustScanExecutor` prepared with detector "external") from one AI
    task per line made by `factory`."""

    def __init__(self, executor: Any, config: FlyScanConfig, plan: dict[str, Any], factory: Any,
                 now_ns: Callable[[], int] = _engine.now_ns) -> None:
        self._executor, self._config, self._plan, self._factory = executor, config, plan, factory
        self._now_ns = now_ns
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.report = FeedReport()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aefi-daq", daemon=True)
        self._thread.start()

    def stop(self) -> FeedReport:
        """Stops feeding (at the scan's end) and returns what was fed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return self.report

    # ---- the thread ---------------------------------------------------------------------------------
    def _run(self) -> None:
        done: set[int] = set()
        try:
            while not self._stop.is_set():
                p = self._executor.progress()
                line, state = int(p["current_line"]), p["state"]
                if state in _FINAL:
                    return
                # A SYN-started task is armed as soon as its line is next (the edge starts it); a
                # software start is given when the line flies.
                ready = state == "flying" or (self._config.daq_start_trigger == "syn" and state in _BEFORE_LINE)
                if ready and line not in done and int(p["lines_done"]) <= line:
                    done.add(line)
                    self._fly_line(line)
                else:
                    time.sleep(0.0005)
        except Exception as err:  # the scan must not fly on without its detector: stop it, say why
            self.report.error = err if isinstance(err, DaqError) else DaqError(
                f"the DAQ feeder failed: {type(err).__name__}: {err}")
            self._executor.abort()

    def _line_over(self, line: int) -> bool:
        """The engine has closed `line` (its fly move ended: later samples are not this line's)."""
        p = self._executor.progress()
        return bool(self._stop.is_set() or p["state"] not in _LIVE or int(p["current_line"]) != line
                    or int(p["lines_done"]) > line)

    def _fly_line(self, line: int) -> None:
        geometry = line_geometry(self._config, self._plan, line)
        spec = line_task_spec(self._config, geometry)
        upwards = self._plan["fast_stop_steps"] >= self._plan["fast_start_steps"]
        direction = self._config.line_direction(line) * (1 if upwards else -1)
        task = self._factory.make(spec, line, geometry.first_steps, direction)
        n_ch = len(spec.channels)
        block = max(1, int(spec.rate_hz * MAX_BLOCK_S))
        start_ns: Optional[int] = None
        stamped = spec.start == "software"
        try:
            if stamped:
                start_ns = int(self._now_ns())  # the software start's stamp, just before the call
            task.start()
            while task.samples_read < spec.n_samples:
                volts = task.read(block, READ_TIMEOUT_S)
                if volts.shape[0] == 0:
                    if self._line_over(line):
                        break
                    continue
                if self._line_over(line):
                    # the engine has closed the line: later samples are not this line's
                    break
                first = task.samples_read - volts.shape[0]
                if start_ns is None:
                    known = task.start_instant_ns()
                    # without the edge's instant: the samples read so far have just been taken
                    start_ns = (int(known) if known is not None
                                else int(self._now_ns() - task.samples_read * spec.period_ns))
                t_ns = start_ns + np.round(np.arange(first, task.samples_read) * spec.period_ns).astype(np.int64)
                channels = np.full((volts.shape[0], 6), np.nan)
                channels[:, :n_ch] = volts
                self._feed(t_ns, channels)
        finally:
            task.close()
        if start_ns is None or task.samples_read == 0:
            if not self._stop.is_set() and spec.start == "syn":
                raise DaqError(f"line {line}: no start edge on {spec.trigger_source} while the line flew "
                               "(is it wired to the Arcus DO1, and SYN armed on the fast axis?)")
            return
        self.report.lines[line] = LineFeed(line, start_ns, stamped, task.samples_read)

    def _feed(self, t_ns: np.ndarray, volts: np.ndarray) -> None:
        i = 0
        while i < len(t_ns):
            i += int(self._executor.feed(t_ns[i:], np.ascontiguousarray(volts[i:])))
            if i < len(t_ns):
                if self._stop.is_set():
                    return
                time.sleep(0.0005)  # the engine's ring is full: it drains it every millisecond
