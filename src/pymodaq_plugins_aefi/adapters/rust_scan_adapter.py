"""RustScanAdapter: the ScanPort of ADR-002 on the Rust engine (`_engine.RustScanExecutor`).

It translates, nothing more, verb for verb: the FlyScanConfig (mm, mm/s) becomes the engine's plan
dict (steps, pulses/s) for `prepare`; `kickoff`, `complete` and `collect` go to the executor, its
records come back as RawSamples in mm, its progress and statistics as the domain's FlightProgress
and ScanOutcome; engine exceptions become domain errors. The Arcus link (and the board's) is leased
from its PortArbiter in `prepare` and given back as soon as the scan is seen to have ended (the
engine itself returns the link on every ending); an abort is forwarded to the engine, which stops
the motors, in any state.

Decision records: docs/decisions/0002-hybrid-rust-python-engine.md (the engine),
0003-ports-and-adapters.md (this adapter's place) and 0006-port-lease.md (the link lease).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, Optional

import numpy as np

from .. import __version__ as package_version
from .. import _engine
from ..domain.config import DAQ_DETECTORS, FlyScanConfig
from ..domain.correlation import Placement
from ..domain.errors import InvalidScanConfig, InvalidTransition, ScanAborted, ScanBusyError, ScanExecutionError
from ..domain.fly_scan import FlyScan, ScanStatus
from ..domain.ports import FlightProgress, ScanCompletion, ScanOutcome, ScanPort
from ..domain.samples import RawSamples, SampleFlag
from ..domain.speeds import BenchSpeeds, SpeedProfile
from .aefi_board import board_arbiter
from .daq_sim import SimulatedDaq
from .daq_tasks import DaqError, NidaqmxFactory
from .daqmx_detector import DaqFeeder
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
    "seed": "seed",
    "differential": "differential",
    "excitation_settle_ms": "excitation_settle_ms",
    "excitation_gains": "excitation_gains",
}

#: How long a speed restore waits for an axis still decelerating (the controller refuses with PULSING).
RESTORE_PULSING_S = 3.0

#: Noise of the simulated DAQ: about one LSB of a 16-bit ±10 V input.
SIM_DAQ_NOISE_VOLTS = 300e-6


def default_daq_factory(config: FlyScanConfig, arcus_url: str) -> Any:
    """The DAQ a config names: NI hardware (daqmx) or the simulated DAQ on the bench of `arcus_url`."""
    if config.detector == "daqmx_sim":
        return SimulatedDaq(arcus_url, config.fast_axis, config.scale.step_mm, SIM_DAQ_NOISE_VOLTS, config.seed)
    return NidaqmxFactory(config.daq_channels)


_FINAL_STATES = {"completed": ScanStatus.COMPLETED, "aborted": ScanStatus.ABORTED, "failed": ScanStatus.FAILED}


def build_plan(config: FlyScanConfig, ring_capacity: Optional[int] = None, realtime: bool = True,
               excitation_gains: Optional[tuple[int, int]] = None) -> dict[str, Any]:
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
        # the DAQ's samples reach the engine through its external stream
        "detector": "external" if config.detector in DAQ_DETECTORS else config.detector,
        "trigger": config.trigger,
        "sample_rate_hz": float(config.sample_rate_hz),
        "board_n_avg": int(config.board_n_avg),
        "travel_min_steps": scale.to_steps(config.travel_min_mm),
        "travel_max_steps": scale.to_steps(config.travel_max_mm),
        "settle_ms": float(config.settle_ms),
        "step_um": float(config.step_um),
        "realtime": bool(realtime),
    }
    if config.seed is not None:
        plan["seed"] = int(config.seed)
    if config.differential:
        plan["differential"] = True
        plan["excitation_settle_ms"] = float(config.excitation_settle_ms)
        if excitation_gains is not None:
            plan["excitation_gains"] = [int(g) for g in excitation_gains]
    if ring_capacity is not None:
        plan["ring_capacity"] = int(ring_capacity)
    return plan


def records_to_samples(columns: Mapping[str, np.ndarray], step_mm: float) -> RawSamples:
    """Engine `collect()` columns (steps) → RawSamples (mm)."""
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


def _engine_error(err: Exception) -> str:
    return f"{type(err).__name__}: {err}"


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
        daq_factory: Optional[Callable[[FlyScanConfig, str], Any]] = None,
        speeds: Optional[BenchSpeeds] = None,
        excitation_gains: Optional[tuple[int, int]] = None,
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
        self._daq_factory = daq_factory or default_daq_factory
        self._daq: Optional[DaqFeeder] = None
        #: What the DAQ feeder did in the last scan, and the simulated DAQ's truth (None otherwise).
        self.last_daq: Any = None
        self.last_daq_truth: Any = None
        #: The bench's profile, applied to the scan's axes for the scan and undone after; None: the
        #: controller's speeds as they are.
        self.speeds = speeds
        self._speeds_report: Optional[dict[str, Any]] = None
        #: DDS1/DDS2 gain words a differential scan writes back when the board's driver was never
        #: configured (None: the engine's default, the simulated board's power-up words).
        self.excitation_gains = excitation_gains
        # A differential scan's baseline samples, kept out of collect()'s stream.
        self._baseline: list[RawSamples] = []
        # Written without a lock: abort() may run in a signal handler on the scanning thread itself.
        self._executor: Any = None
        self._abort_requested = False
        self._leases: Optional[ExitStack] = None
        self._scan: Optional[FlyScan] = None
        self._plan: dict[str, Any] = {}
        # A scan aborted before the engine had it: its outcome, without an engine scan.
        self._ended_early: Optional[ScanOutcome] = None

    # ---- ScanPort -----------------------------------------------------------------------------------
    def prepare(self, scan: FlyScan) -> None:
        if self._leases is not None:
            raise ScanBusyError(f"scan {self._scan.id if self._scan else '?'} is prepared on {self.arcus_url}; "
                                "let it complete or abort it first")
        plan = build_plan(scan.config, self.ring_capacity, self.realtime, self.excitation_gains)
        self._abort_requested = False
        self._executor, self._scan, self._plan, self._ended_early = None, scan, plan, None
        self._daq, self.last_daq, self.last_daq_truth = None, None, None
        self._speeds_report = None
        self._baseline = []
        profiles = self.speeds.for_scan(scan.config) if self.speeds is not None else None  # before any lease
        leases = ExitStack()
        try:
            arbiter = PortArbiter.for_url(self.arcus_url, self._arcus_opener or _engine.ArcusController)
            arcus = leases.enter_context(arbiter.lease(f"flyscan {scan.id}"))
            daq = None
            if scan.config.detector in DAQ_DETECTORS:
                # no runtime, no device: refused here, before anything is set or moves
                daq = self._daq_factory(scan.config, self.arcus_url)
                daq.check()
                self.last_daq_truth = getattr(daq, "truth", None)
            if profiles is not None:
                self._apply_speeds(arcus, profiles, leases)
            board = leases.enter_context(self._board_lease(scan)) if scan.config.detector == "board" else None
            if self._abort_requested:
                # asked before the engine had the scan: nothing moved
                self._ended_early = self._outcome({"status": "aborted", "error": None, "lines": 0, "samples": 0})
                raise ScanAborted(f"scan {scan.id} aborted before it moved")
            executor = (self._executor_factory or _engine.RustScanExecutor)()
            self._executor = executor
            executor.prepare(plan, arcus, board)
            if daq is not None:
                self._daq = DaqFeeder(executor, scan.config, plan, daq)
            if self._abort_requested:
                # asked while the engine took the scan: it stops where it is, then the links go back
                executor.abort()
                executor.complete().wait()
                raise ScanAborted(f"scan {scan.id} aborted while preparing")
        except _engine.PlanError as err:
            leases.close()
            field = getattr(err, "field", "") or ""
            # the engine names its own (step) field first; the user set the mm field named here instead
            message = str(err).removeprefix(f"plan field `{field}`: ")
            raise InvalidScanConfig(
                PLAN_TO_CONFIG_FIELD.get(field, field or "plan"),
                f"{message} (engine plan field {field}; 1 step = {scan.config.scale.step_mm:g} mm)",
            ) from err
        except _engine.ScanAbortedError as err:
            leases.close()
            raise ScanAborted(f"scan {scan.id} aborted while preparing: {err}") from err
        except LeaseBusyError as err:
            leases.close()
            raise ScanBusyError(str(err)) from err
        except DaqError:
            leases.close()
            raise
        except _engine.AefiError as err:
            leases.close()
            raise ScanExecutionError(_engine_error(err)) from err
        except BaseException:
            leases.close()
            raise
        self._leases = leases

    def kickoff(self) -> None:
        if self._ended_early is not None:
            raise ScanAborted("the scan was aborted before it moved")
        executor = self._prepared()
        if self._daq is not None:
            self._daq.start()
        try:
            executor.kickoff()
        except _engine.ScanAbortedError as err:
            raise ScanAborted(str(err)) from err
        except _engine.ScanStateError as err:
            raise InvalidTransition(str(err)) from err

    def complete(self) -> ScanCompletion:
        if self._ended_early is not None:
            return _EndedEarly(self._ended_early, len(self._scan.lines) if self._scan is not None else 0)
        return _RustCompletion(self, self._prepared().complete())

    def collect(self) -> RawSamples:
        if self._ended_early is not None:
            return RawSamples.empty()
        raw = records_to_samples(self._prepared().collect(), self._step_mm())
        if not self._differential():
            return raw
        # The engine numbers the lines it flies (map row k: flight 2k excited, 2k + 1 baseline);
        # the domain numbers map rows.
        columns = raw.columns()
        columns["line"] = columns["line"] // 2
        raw = RawSamples.from_columns(columns)
        baseline = raw.has_flag(SampleFlag.BASELINE)
        if baseline.any():
            self._baseline.append(raw.select(baseline))
        return raw.select(~baseline)

    def baseline_samples(self) -> RawSamples:
        return RawSamples.concat(self._baseline)

    def abort(self) -> None:
        self._abort_requested = True
        executor = self._executor
        if executor is not None:
            executor.abort()

    # ---- internals ----------------------------------------------------------------------------------
    def _apply_speeds(self, arcus: Any, profiles: Mapping[str, SpeedProfile], leases: ExitStack) -> None:
        """Apply the scan's profiles; the previous ones go back when the leases close (every ending)."""
        previous = {axis: {k: int(v) for k, v in dict(arcus.speeds(axis)).items()} for axis in profiles}
        report: dict[str, Any] = {"applied": {axis: p.as_kwargs() for axis, p in profiles.items()},
                                  "previous": previous, "restored": None, "restore_error": None}
        self._speeds_report = report
        # registered before the first write: a write failing half-way is undone as well
        leases.callback(_restore_speeds, arcus, previous, report)
        for axis, profile in profiles.items():
            arcus.set_speeds(axis, **profile.as_kwargs())

    def _prepared(self) -> Any:
        if self._executor is None:
            raise InvalidTransition("no scan was prepared on this port")
        return self._executor

    def _differential(self) -> bool:
        return self._scan is not None and self._scan.config.differential

    def _step_mm(self) -> float:
        return self._scan.config.scale.step_mm if self._scan is not None else 0.0

    def _board_lease(self, scan: FlyScan) -> Any:
        if not self.board_url:
            raise InvalidScanConfig("detector", "detector 'board' needs a board link (board_url)")
        # the board's own arbiter: a sim:// URL names the Arcus and the board of one bench
        return board_arbiter(self.board_url, self._board_opener).lease(f"flyscan {scan.id}")

    def _release(self) -> None:
        """The scan has ended: its links go back to their holders (once)."""
        leases, self._leases = self._leases, None
        daq, self._daq = self._daq, None
        if daq is not None:
            self.last_daq = daq.stop()
        if leases is not None:
            leases.close()

    def _progress(self, progress: Mapping[str, Any]) -> FlightProgress:
        step_mm = self._step_mm()
        done, total, current = (int(progress[k]) for k in ("lines_done", "lines_total", "current_line"))
        if self._differential():  # flights → map rows: row k is done once its excited flight 2k is
            done, total, current = (done + 1) // 2, total // 2, current // 2
        return FlightProgress(
            state=str(progress["state"]), lines_done=done,
            lines_total=total, current_line=current,
            samples=int(progress["samples"]), fast_mm=float(progress["fast_steps"]) * step_mm,
            slow_mm=float(progress["slow_steps"]) * step_mm, elapsed_s=float(progress["elapsed_s"]),
            dropped_records=int(progress.get("dropped_records", 0)),
        )

    def _outcome(self, stats: Mapping[str, Any]) -> ScanOutcome:
        status = _FINAL_STATES.get(str(stats.get("status")), ScanStatus.FAILED)
        if self._speeds_report is not None:
            stats = {**stats, "axis_speeds": self._speeds_report}  # completed by the restore
        if self._differential():
            flights = int(stats.get("lines", 0))
            stats = {**stats, "flights": flights, "lines": (flights + 1) // 2}
        error = stats.get("error") or None
        if self.last_daq is not None:
            # saved with the scan: how each line's task started and what it gave
            lines = sorted(self.last_daq.lines.values(), key=lambda f: f.line)
            stats = {**stats, "daq": {"lines": [{"line": f.line, "start_ns": f.start_ns, "samples": f.samples,
                                                 "start": "software" if f.stamped else "syn"} for f in lines]}}
        daq_error = getattr(self.last_daq, "error", None)
        if daq_error is not None:
            # the DAQ's failure aborted the engine: the scan failed with it
            status, error = ScanStatus.FAILED, {"type": type(daq_error).__name__, "message": str(daq_error)}
            stats = {**stats, "status": "failed", "error": error}
        return ScanOutcome(
            status=status, stats=dict(stats),
            error=None if error is None else f"{error.get('type', 'Error')}: {error.get('message', '')}",
            error_type=None if error is None else error.get("type"),
            plan=dict(self._plan), versions=engine_versions(), source=self.arcus_url,
        )


def _restore_speeds(arcus: Any, previous: Mapping[str, Mapping[str, int]], report: dict[str, Any]) -> None:
    """Put each axis' speeds back; an axis still decelerating (after an abort) is waited for. A link
    that is gone cannot take them: the report says so, the scan's own ending stands."""
    import time

    try:
        for axis, speeds in previous.items():
            give_up = time.monotonic() + RESTORE_PULSING_S
            while True:
                try:
                    arcus.set_speeds(axis, **speeds)
                    break
                except _engine.ControllerError as err:
                    if getattr(err, "code", None) != "PULSING" or time.monotonic() > give_up:
                        raise
                    time.sleep(0.02)
    except Exception as err:
        report.update(restored=False, restore_error=f"{type(err).__name__}: {err}")
    else:
        report.update(restored=True)


class _RustCompletion(ScanCompletion):
    """The engine's completion status in domain terms; the port's links go back once it is seen done."""

    def __init__(self, port: RustScanAdapter, engine_status: Any) -> None:
        self._port = port
        self._status = engine_status

    @property
    def done(self) -> bool:
        if self._status.done:
            self._port._release()
            return True
        return False

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        if self._status.wait(timeout_s):
            self._port._release()
            return True
        return False

    def progress(self) -> FlightProgress:
        return self._port._progress(self._status.progress())

    def outcome(self) -> ScanOutcome:
        stats = self._status.stats()
        self._port._release()
        return self._port._outcome(stats)


class _EndedEarly(ScanCompletion):
    """The status of a scan aborted before the engine had it: done, nothing acquired."""

    def __init__(self, outcome: ScanOutcome, lines_total: int) -> None:
        self._outcome = outcome
        self._lines_total = lines_total

    @property
    def done(self) -> bool:
        return True

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        return True

    def progress(self) -> FlightProgress:
        return FlightProgress("aborted", 0, self._lines_total, 0, 0, float("nan"), float("nan"), 0.0)

    def outcome(self) -> ScanOutcome:
        return self._outcome
