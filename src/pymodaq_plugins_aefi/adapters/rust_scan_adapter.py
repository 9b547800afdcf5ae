"""RustScanAdapter: the ScanPort of ADR-002 on the Rust engine (`_engine.RustScanExecutor`).

It translates, nothing more: the FlyScanConfig (mm, mm/s) becomes the engine's plan dict (steps,
pulses/s); while the engine flies, the adapter drains the record ring into numpy columns (mm),
publishes progress several times a second and closes each line as soon as all its records are
in; at the end the engine's statistics join the results. The Arcus link is leased from the
PortArbiter for the scan and given back on every exit path; an abort is forwarded to the engine,
which stops the motors.

Decision records: docs/decisions/0002-hybrid-rust-python-engine.md (the engine),
0003-ports-and-adapters.md (this adapter's place) and 0006-port-lease.md (the link lease).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Optional

import numpy as np

from .. import __version__ as package_version
from .. import _engine
from ..domain.config import FlyScanConfig
from ..domain.correlation import Placement
from ..domain.errors import InvalidScanConfig, ScanBusyError, ScanExecutionError
from ..domain.fly_scan import FlyScan, ScanStatus
from ..domain.ports import ScanObserver, ScanPort
from ..domain.recorder import FlyScanRecorder
from ..domain.results import ScanResults
from ..domain.samples import RawSamples, SampleFlag
from .aefi_board import board_arbiter
from .port_arbiter import LeaseBusyError, PortArbiter

#: Engine plan field → the FlyScanConfig parameter a user sets (PlanError.field is a plan field).
PLAN_TO_CONFIG_FIELD = {
    "fast_axis": "fast_axis",
    "slow_axis": "slow_axis",
    "fast_start_steps": "fast_start_mm",
    "fast_stop_steps": "fast_stop_mm",
    "slow_start_steps": "slow_start_mm",
    "slow_stop_steps": "slow_stop_mm",
    "lines": "lines",
    "pattern": "pattern",
    "speed_pps": "speed_mm_s",
    "detector": "detector",
    "trigger": "trigger",
    "sample_rate_hz": "sample_rate_hz",
    "board_n_avg": "board_n_avg",
    "travel_min_steps": "travel_min_mm",
    "travel_max_steps": "travel_max_mm",
    "settle_ms": "settle_ms",
    "step_um": "step_um",
}

_FINAL_STATES = {"completed": ScanStatus.COMPLETED, "aborted": ScanStatus.ABORTED, "failed": ScanStatus.FAILED}


def build_plan(config: FlyScanConfig, ring_capacity: Optional[int] = None, realtime: bool = True) -> dict[str, Any]:
    """The engine plan (docs/architecture.md "Flyscan plan") of a config: millimetres to whole steps."""
    scale = config.scale
    plan: dict[str, Any] = {
        "fast_axis": config.fast_axis,
        "slow_axis": config.slow_axis,
        "fast_start_steps": scale.to_steps(config.fast_start_mm),
        "fast_stop_steps": scale.to_steps(config.fast_stop_mm),
        "slow_start_steps": scale.to_steps(config.slow_start_mm),
        "slow_stop_steps": scale.to_steps(config.slow_stop_mm),
        "lines": int(config.lines),
        "pattern": config.pattern,
        "speed_pps": float(config.speed_pps),
        "detector": config.detector,
        "trigger": config.trigger,
        "sample_rate_hz": float(config.sample_rate_hz),
        "board_n_avg": int(config.board_n_avg),
        "travel_min_steps": scale.to_steps(config.travel_min_mm),
        "travel_max_steps": scale.to_steps(config.travel_max_mm),
        "settle_ms": float(config.settle_ms),
        "step_um": float(config.step_um),
        "realtime": bool(realtime),
    }
    if ring_capacity is not None:
        plan["ring_capacity"] = int(ring_capacity)
    return plan


def records_to_samples(columns: Mapping[str, np.ndarray], step_mm: float) -> RawSamples:
    """Engine `drain()` columns (steps) → RawSamples (mm)."""
    return RawSamples(
        seq=columns["seq"],
        t_ns=columns["t_ns"],
        line=columns["line"],
        fast_mm=np.asarray(columns["fast_steps"], dtype=np.float64) * step_mm,
        slow_mm=np.asarray(columns["slow_steps"], dtype=np.float64) * step_mm,
        pos_err_mm=np.asarray(columns["pos_err_steps"], dtype=np.float64) * step_mm,
        flags=columns["flags"],
        channels_volts=columns["channels"],
    )


def engine_versions() -> dict[str, str]:
    return {"pymodaq_plugins_aefi": package_version, "aefi_scan_engine": _engine.__version__, "numpy": np.__version__}


class RustScanAdapter(ScanPort):
    """Runs flyscans with the Rust engine on the Arcus at `arcus_url` (and the board at `board_url`).

    `executor_factory`, `arcus_opener` and `board_opener` default to the `_engine` classes; tests
    may inject doubles with the same interface.
    """

    def __init__(
        self,
        arcus_url: str,
        board_url: Optional[str] = None,
        *,
        progress_period_s: float = 0.05,
        placement: Placement = Placement.ENGINE_MODEL,
        ring_capacity: Optional[int] = None,
        realtime: bool = True,
        executor_factory: Optional[Callable[[], Any]] = None,
        arcus_opener: Optional[Callable[[str], Any]] = None,
        board_opener: Optional[Callable[[str], Any]] = None,
    ) -> None:
        if not 0 < progress_period_s <= 0.1:
            raise ValueError(f"progress_period_s must be in (0, 0.1] s (progress at ≥10 Hz), got {progress_period_s}")
        self.arcus_url = arcus_url
        self.board_url = board_url
        self.progress_period_s = progress_period_s
        self.placement = Placement(placement)
        self.ring_capacity = ring_capacity
        self.realtime = realtime
        self._executor_factory = executor_factory
        self._arcus_opener = arcus_opener
        self._board_opener = board_opener
        # Written without a lock: abort() may run in a signal handler on the scanning thread itself.
        self._executor: Any = None
        self._abort_requested = False
        self.last_stats: dict[str, Any] = {}

    # ---- ScanPort -----------------------------------------------------------------------------------
    def abort(self) -> None:
        self._abort_requested = True
        executor = self._executor
        if executor is not None:
            executor.abort()

    def execute_scan(self, scan: FlyScan, observer: ScanObserver) -> ScanResults:
        plan = build_plan(scan.config, self.ring_capacity, self.realtime)
        self._abort_requested = False
        arbiter = PortArbiter.for_url(self.arcus_url, self._arcus_opener or _engine.ArcusController)
        try:
            with arbiter.lease(f"flyscan {scan.id}") as arcus:
                if scan.config.detector == "board":
                    with self._board_lease(scan) as board:
                        return self._run(scan, observer, plan, arcus, board)
                return self._run(scan, observer, plan, arcus, None)
        except LeaseBusyError as err:
            raise ScanBusyError(str(err)) from err
        except _engine.LinkError as err:
            raise ScanExecutionError(f"{type(err).__name__}: {err}") from err

    # ---- internals ----------------------------------------------------------------------------------
    def _board_lease(self, scan: FlyScan) -> Any:
        if not self.board_url:
            raise InvalidScanConfig("detector", "detector 'board' needs a board link (board_url)")
        # the board's own arbiter: a sim:// URL names the Arcus and the board of one bench
        return board_arbiter(self.board_url, self._board_opener).lease(f"flyscan {scan.id}")

    def _start(self, scan: FlyScan, plan: dict[str, Any], arcus: Any, board: Any) -> Any:
        executor = (self._executor_factory or _engine.RustScanExecutor)()
        try:
            executor.start(plan, arcus, board)
        except _engine.PlanError as err:
            field = getattr(err, "field", "") or ""
            # the engine names its own (step) field first; the user set the mm field named here instead
            message = str(err).removeprefix(f"plan field `{field}`: ")
            raise InvalidScanConfig(
                PLAN_TO_CONFIG_FIELD.get(field, field or "plan"),
                f"{message} (engine plan field {field}; 1 step = {scan.config.scale.step_mm:g} mm)",
            ) from err
        return executor

    def _run(self, scan: FlyScan, observer: ScanObserver, plan: dict[str, Any], arcus: Any, board: Any) -> ScanResults:
        executor = self._start(scan, plan, arcus, board)
        self._executor = executor
        recorder = FlyScanRecorder(scan, observer, self.placement)
        step_mm = scan.config.scale.step_mm
        try:
            recorder.begin(_engine.now_ns())
            if self._abort_requested:
                executor.abort()
            closed = self._drain_until_done(scan, executor, recorder, step_mm)
            stats = dict(executor.join())
            # Records pushed after the last progress read (the end of the last line) are still in the ring.
            recorder.add_samples(records_to_samples(executor.drain(), step_mm))
            self._close_lines(scan, recorder, closed, int(stats.get("lines", closed)))
        except BaseException:
            # Whatever happened on this side (an observer, Ctrl-C), the motors must not keep flying.
            executor.abort()
            executor.join()
            raise
        finally:
            self._executor = None
        self.last_stats = stats
        status = _FINAL_STATES.get(str(stats.get("status")), ScanStatus.FAILED)
        error = stats.get("error") or None
        message = None if error is None else f"{error.get('type', 'Error')}: {error.get('message', '')}"
        if status is ScanStatus.ABORTED and message is None:
            message = "abort requested"
        return recorder.finish(
            status, stats, plan=plan, versions=engine_versions(), source=self.arcus_url,
            error=message, error_type=None if error is None else error.get("type"),
        )

    def _drain_until_done(self, scan: FlyScan, executor: Any, recorder: FlyScanRecorder, step_mm: float) -> int:
        """Drain and publish until the engine reaches a final state; returns the lines closed so far."""
        closed = 0
        tail = _LineTail()
        while True:
            tick_s = time.monotonic()
            if self._abort_requested:
                executor.abort()
            # Progress first, then drain: a line the motion thread counted done is then either
            # fully drained or still has records in flight, which _LineTail tells apart.
            progress = executor.progress()
            chunk = records_to_samples(executor.drain(), step_mm)
            recorder.add_samples(chunk)
            tail.update(chunk)
            current = int(progress["current_line"])
            if progress["state"] == "flying" and 0 <= current < len(scan.lines):
                recorder.line_started(current)
            closed = self._close_lines(scan, recorder, closed, min(int(progress["lines_done"]), tail.complete_below))
            recorder.progress(
                str(progress["state"]), current, float(progress["fast_steps"]) * step_mm,
                float(progress["slow_steps"]) * step_mm, int(progress.get("dropped_records", 0)),
            )
            # The engine publishes its final state when joined; `running` turns false as soon as
            # its threads are done, so either ends the loop.
            if progress["state"] in _FINAL_STATES or not executor.running:
                return closed
            time.sleep(max(0.0, self.progress_period_s - (time.monotonic() - tick_s)))

    @staticmethod
    def _close_lines(scan: FlyScan, recorder: FlyScanRecorder, closed: int, lines_done: int) -> int:
        for index in range(closed, min(lines_done, len(scan.lines))):
            samples = recorder.line_samples(index)
            t_start, t_end = (int(samples.t_ns.min()), int(samples.t_ns.max())) if len(samples) else (0, 0)
            recorder.line_finished(index, t_start, t_end)
        return max(closed, min(lines_done, len(scan.lines)))


class _LineTail:
    """Which lines have all their records drained: the ring is FIFO from one producer, so a line is
    complete once its last-sample record, or any record of a later line, has come out."""

    def __init__(self) -> None:
        self.complete_below = 0

    def update(self, chunk: RawSamples) -> None:
        if not len(chunk):
            return
        self.complete_below = max(self.complete_below, int(chunk.line.max()))
        ended = chunk.line[chunk.has_flag(SampleFlag.LINE_LAST)]
        if ended.size:
            self.complete_below = max(self.complete_below, int(ended.max()) + 1)
