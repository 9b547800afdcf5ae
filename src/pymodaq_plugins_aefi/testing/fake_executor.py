"""FakeScanExecutor: a stand-in for `_engine.RustScanExecutor` with the same four verbs, in Python.

It follows docs/architecture.md: `prepare(plan, arcus, board=None)` validates the plan (PlanError with
`.field`, before any motion), "moves to the start" (for `prepare_s`, abortable: it then raises the
aborted error) and returns ready; `kickoff()` starts a worker thread that "flies" the lines on a
compressed clock, sampling `field(x_mm, y_mm)` at exact positions; `complete()` gives a status with
`done`, `wait(timeout_s)`, `progress()` and `stats()`; `collect()` returns the records since the last
call as columns; `abort()` works in every state. The Arcus link is marked lent from `prepare` until
the scan ends. Used to test adapters without the Rust loop.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Optional

import numpy as np

from ..domain.measurement import N_CHANNELS
from ..domain.samples import SampleFlag

REQUIRED_PLAN_KEYS = ("fast_axis", "slow_axis", "fast_start_steps", "fast_stop_steps", "slow_start_steps",
                      "slow_stop_steps", "lines", "speed_pps", "sample_rate_hz")
FINAL_STATES = ("completed", "aborted", "failed")


class FakePlanError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"plan field `{field}`: {message}")
        self.field = field


class FakeAbortedError(RuntimeError):
    """What `prepare` raises when an abort ends it (the engine's ScanAbortedError)."""


class FakeStateError(RuntimeError):
    """A verb out of order (the engine's ScanStateError)."""


class FakeArcusLink:
    """The part of `_engine.ArcusController` a scan touches: lent while a scan runs, closable."""

    def __init__(self, url: str = "fake://arcus", hs_pps: float = 1500.0) -> None:
        self.url, self.hs_pps = url, hs_pps
        self.is_lent = False
        self.closed = False

    def close(self) -> None:
        self.closed = True


class FakeCompletion:
    """The status `complete()` returns."""

    def __init__(self, executor: FakeScanExecutor) -> None:
        self._executor = executor

    @property
    def done(self) -> bool:
        return self._executor._ended.is_set()

    def wait(self, timeout_s: Optional[float] = None) -> bool:
        return self._executor._ended.wait(timeout_s)

    def progress(self) -> dict[str, Any]:
        return self._executor.progress()

    def stats(self) -> dict[str, Any]:
        self._executor._ended.wait()
        return dict(self._executor._stats)


class FakeScanExecutor:
    def __init__(
        self,
        field: Callable[[np.ndarray, np.ndarray], np.ndarray],
        plan_error: type[Exception] = FakePlanError,
        aborted_error: type[Exception] = FakeAbortedError,
        state_error: type[Exception] = FakeStateError,
        time_scale: float = 50.0,
        prepare_s: float = 0.0,
        fail_on_line: Optional[int] = None,
        chunk_records: int = 200,
        lines_done_early: bool = False,
    ) -> None:
        self.field = field
        self.plan_error = plan_error
        self.aborted_error = aborted_error
        self.state_error = state_error
        self.time_scale = time_scale
        self.prepare_s = prepare_s
        self.fail_on_line = fail_on_line
        self.chunk_records = chunk_records
        # The engine counts a line done when its motion ends; its last records may reach the ring later.
        self.lines_done_early = lines_done_early
        self.plan: dict[str, Any] = {}
        self.abort_calls = 0
        self.verbs: list[str] = []
        self._lock = threading.Lock()
        self._pending: list[dict[str, np.ndarray]] = []
        self._abort = threading.Event()
        self._ended = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._arcus: Any = None
        self._t0_ns = 0
        self._progress: dict[str, Any] = {"state": "idle", "lines_done": 0, "lines_total": 0, "current_line": 0,
                                          "samples": 0, "fast_steps": 0.0, "slow_steps": 0.0, "elapsed_s": 0.0,
                                          "dropped_records": 0}
        self._stats: dict[str, Any] = {}

    # ---- the four verbs and abort ------------------------------------------------------------------
    def prepare(self, plan: dict[str, Any], arcus: Any, board: Any = None) -> None:
        self.verbs.append("prepare")
        if self._progress["state"] not in ("idle",) + FINAL_STATES:
            raise self.state_error("a scan is already prepared or running on this executor")
        for key in REQUIRED_PLAN_KEYS:
            if key not in plan:
                raise self._plan_error(key, "missing")
        if not 0 < plan["speed_pps"] <= getattr(arcus, "hs_pps", 1500.0):
            raise self._plan_error("speed_pps", f"{plan['speed_pps']} pps is above HS ({arcus.hs_pps} pps)")
        if plan["fast_start_steps"] < plan.get("travel_min_steps", -(1 << 30)):
            raise self._plan_error("fast_start_steps", "outside the travel")
        if getattr(arcus, "is_lent", False):
            raise RuntimeError("the Arcus link is already lent to a scan")
        self.plan = dict(plan)
        self._arcus = arcus
        arcus.is_lent = True
        self._abort.clear()
        self._ended.clear()
        self._t0_ns = time.monotonic_ns()
        self._set(state="moving_to_start", lines_total=int(plan["lines"]))
        if self._abort.wait(self.prepare_s):
            self._end("aborted", None, [], 0)
            raise self.aborted_error("the scan was aborted")
        self._set(state="ready")

    def kickoff(self) -> None:
        self.verbs.append("kickoff")
        state = self._progress["state"]
        if state == "aborted":
            raise self.aborted_error("the scan was aborted")
        if state != "ready":
            raise self.state_error(f"kickoff needs a prepared scan; the scan is {state}")
        self._set(state="flying")
        self._thread = threading.Thread(target=self._fly, name="fake-flyscan", daemon=True)
        self._thread.start()

    def complete(self) -> FakeCompletion:
        self.verbs.append("complete")
        if self._progress["state"] == "idle":
            raise self.state_error("no scan was prepared on this executor")
        return FakeCompletion(self)

    def collect(self, max_records: Optional[int] = None) -> dict[str, np.ndarray]:
        with self._lock:
            chunks, self._pending = self._pending, []
        if not chunks:
            return _empty_columns()
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}

    def abort(self) -> None:
        self.abort_calls += 1
        self._abort.set()
        if self._progress["state"] == "ready":
            # nothing flies: the scan ends at once
            self._end("aborted", None, [], 0)

    def progress(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._progress)

    @property
    def running(self) -> bool:
        return self._progress["state"] not in ("idle",) + FINAL_STATES

    # ---- the fake flight ----------------------------------------------------------------------------
    def _plan_error(self, field: str, message: str) -> Exception:
        err = self.plan_error(f"plan field `{field}`: {message}")
        err.field = field  # type: ignore[attr-defined]
        return err

    def _set(self, **values: Any) -> None:
        with self._lock:
            self._progress.update(values)

    def _end(
        self, status: str, error: Optional[dict[str, str]], line_times: list[dict[str, int]], samples: int
    ) -> None:
        wall_s = (time.monotonic_ns() - self._t0_ns) * 1e-9
        plan = self.plan
        self._stats = {"status": status, "error": error, "lines": len(line_times), "samples": samples,
                       "wall_time_s": wall_s, "prepare_s": self.prepare_s, "physical_min_s": None,
                       "efficiency": None, "overhead_per_line_ms": None, "seed": plan.get("seed"),
                       "polls": 0, "poll_rate_hz": 0.0, "wire_limit_hz": 0.0,
                       "trigger_lateness_us": {"p50": 0.0, "p99": 0.0, "max": 0.0, "count": samples},
                       "missed_triggers": 0, "dropped_records": 0, "sample_rate_hz": plan.get("sample_rate_hz", 0.0),
                       "smear_steps": 0.0, "rt": {"fifo": False, "pinned_cpu": None, "mlocked": False,
                                                      "prefaulted_bytes": 0, "detail": "fake"},
                       "line_times": line_times, "abort_latency_ms": 0.0 if status == "aborted" else None,
                       "detector_faults": 0, "rejected_samples": 0}
        if self._arcus is not None:
            self._arcus.is_lent = False
        self._set(state=status)
        self._ended.set()

    def _fly(self) -> None:
        plan = self.plan
        step_mm = plan.get("step_um", 21.8) * 1e-3
        lines = int(plan["lines"])
        if lines > 1:
            slows = np.round(np.linspace(plan["slow_start_steps"], plan["slow_stop_steps"], lines))
        else:
            slows = [plan["slow_start_steps"]]
        seq, status, error = 0, "completed", None
        line_times: list[dict[str, int]] = []
        for index, slow in enumerate(slows):
            if self._abort.is_set():
                status = "aborted"
                break
            reverse = plan.get("pattern", "serpentine") == "serpentine" and index % 2 == 1
            a, b = plan["fast_start_steps"], plan["fast_stop_steps"]
            start, stop = (b, a) if reverse else (a, b)
            self._set(state="flying", current_line=index, slow_steps=float(slow))
            duration_s = abs(stop - start) / plan["speed_pps"]
            n = max(2, int(duration_s * plan["sample_rate_hz"]) + 1)
            t_line = time.monotonic_ns()
            t_ns = t_line + (np.arange(n) / plan["sample_rate_hz"] * 1e9).astype(np.int64)
            fast = np.linspace(start, stop, n)
            if index == self.fail_on_line:
                status, error = "failed", {"type": "LinkTimeoutError", "message": f"no reply on line {index}"}
                break
            for lo in range(0, n, self.chunk_records):
                if self._abort.is_set():
                    status = "aborted"
                    break
                hi = min(n, lo + self.chunk_records)
                flags = np.full(hi - lo, int(SampleFlag.ESTIMATED), dtype=np.uint32)
                if lo == 0:
                    flags[0] |= SampleFlag.LINE_FIRST
                if hi == n:
                    flags[-1] |= SampleFlag.LINE_LAST
                f_mm, s_mm = fast[lo:hi] * step_mm, np.full(hi - lo, slow * step_mm)
                x, y = (f_mm, s_mm) if plan["fast_axis"] == "X" else (s_mm, f_mm)
                chunk = {"seq": np.arange(seq, seq + hi - lo, dtype=np.uint64), "t_ns": t_ns[lo:hi],
                         "line": np.full(hi - lo, index, dtype=np.uint32), "fast_steps": fast[lo:hi],
                         "slow_steps": np.full(hi - lo, float(slow)), "pos_err_steps": np.full(hi - lo, 0.25),
                         "flags": flags, "channels": np.asarray(self.field(x, y), dtype=np.float64)}
                seq += hi - lo
                if hi == n and self.lines_done_early:
                    self._set(lines_done=index + 1)
                    time.sleep(0.06)
                time.sleep((hi - lo) / plan["sample_rate_hz"] / self.time_scale)
                with self._lock:
                    self._pending.append(chunk)
                    self._progress.update(samples=seq, fast_steps=float(fast[hi - 1]),
                                          elapsed_s=(time.monotonic_ns() - self._t0_ns) * 1e-9)
            if status == "aborted":
                break
            line_times.append({"line": index, "t_start_ns": int(t_ns[0]), "t_end_ns": int(t_ns[-1]), "samples": n})
            self._set(state="between_lines", lines_done=index + 1)
        self._end(status, error, line_times, seq)


def _empty_columns() -> dict[str, np.ndarray]:
    return {"seq": np.empty(0, np.uint64), "t_ns": np.empty(0, np.int64), "line": np.empty(0, np.uint32),
            "fast_steps": np.empty(0), "slow_steps": np.empty(0), "pos_err_steps": np.empty(0),
            "flags": np.empty(0, np.uint32), "channels": np.empty((0, N_CHANNELS))}
