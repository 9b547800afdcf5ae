"""The Python flyscan loop: the baseline the Rust engine is measured against.

It is the AEFI flyscan done as well as one Python thread can do it. One `while` loop owns the
serial port and the detector:
  * triggers run on an absolute schedule (deadline k = t0 + k·period, never "sleep one period"),
    waited for with a timed `select` on the port and a short `perf_counter`-style spin at the end;
  * position queries go out back to back, without blocking: while waiting for the next
    deadline the loop sleeps in `select` on the port, so a reply is read, stamped (send and
    receive, CLOCK_MONOTONIC) and the next query sent as soon as it lands;
  * each trigger reads the detector at the newest position known, and is stamped;
  * a deadline that has already slipped by a whole period is skipped and counted as missed
    (firing a burst of stale triggers would put samples at the wrong places).
Position per sample is what the legacy post-processing did: the trigger stamps are aligned on
the poll stamps afterwards (linear interpolation between the polls around each trigger).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .arcus_serial import LegacyArcus, PollSample

#: Detector: (fast_steps, slow_steps) -> six voltages. The position is only what the loop knows.
Detector = Callable[[float, float], np.ndarray]


@dataclass(frozen=True)
class FlyLoopResult:
    """What one run of the loop did. Stamps are CLOCK_MONOTONIC ns."""

    rate_hz: float
    deadline_ns: np.ndarray  # scheduled instant of every fired trigger
    fired_ns: np.ndarray  # instant the detector was read
    skipped: int  # deadlines never fired (the loop was a whole period behind)
    poll_send_ns: np.ndarray
    poll_recv_ns: np.ndarray
    poll_steps: np.ndarray
    channels_volts: np.ndarray  # (triggers, 6)
    wall_s: float
    thread_cpu_s: float

    @property
    def lateness_ns(self) -> np.ndarray:
        return self.fired_ns - self.deadline_ns

    @property
    def period_ns(self) -> int:
        return round(1e9 / self.rate_hz)

    def sample_positions_steps(self) -> np.ndarray:
        """Position of each trigger, aligned afterwards on the poll stamps (midpoints)."""
        if self.poll_steps.size == 0:
            return np.full(self.fired_ns.shape, np.nan)
        mid_ns = (self.poll_send_ns + self.poll_recv_ns) / 2
        return np.interp(self.fired_ns, mid_ns, self.poll_steps)


def run_fly_loop(
    arcus: LegacyArcus,
    axis: str,
    slow_steps: float,
    detector: Detector,
    rate_hz: float,
    duration_s: float,
    spin_s: float = 200e-6,
) -> FlyLoopResult:
    """Fire `rate_hz` software triggers for `duration_s` while polling `axis` back to back.

    The axis is expected to be moving already (the caller launched the fly move).
    """
    if not 0 < rate_hz <= 100_000:
        raise ValueError(f"rate_hz must be in (0, 100000] Hz, got {rate_hz}")
    if not duration_s > 0:
        raise ValueError(f"duration_s must be > 0 s, got {duration_s}")
    period_ns = round(1e9 / rate_hz)
    spin_ns = round(spin_s * 1e9)
    n_deadlines = max(1, round(duration_s * rate_hz))
    poll_command = f"P{axis}"

    deadlines: list[int] = []
    fired: list[int] = []
    channels: list[np.ndarray] = []
    polls: list[PollSample] = []
    skipped = 0
    last_steps = float(arcus.position_steps(axis))

    cpu0 = time.thread_time()
    wall0 = time.perf_counter()
    t0_ns = time.monotonic_ns() + period_ns
    arcus.send_query(poll_command)
    k = 0
    while k < n_deadlines:
        deadline_ns = t0_ns + k * period_ns
        # Sleep on the port until a reply lands or the spin window opens; a zero timeout when
        # the window is already open still collects a reply that is waiting (at 5 kHz the loop
        # lives in the spin window).
        wait_ns = deadline_ns - spin_ns - time.monotonic_ns()
        if arcus.wait_readable(max(wait_ns, 0) / 1e9):
            sample = arcus.poll_reply()
            if sample is not None:
                polls.append(sample)
                last_steps = float(sample.position_steps)
                arcus.send_query(poll_command)
            if wait_ns > 0:
                continue
        elif time.monotonic_ns() < deadline_ns - spin_ns:
            continue  # select woke early (a signal): wait again
        while time.monotonic_ns() < deadline_ns:
            pass
        t_fire_ns = time.monotonic_ns()
        channels.append(detector(last_steps, slow_steps))
        deadlines.append(deadline_ns)
        fired.append(t_fire_ns)
        k += 1
        # A deadline already a whole period in the past can no longer be honoured: skip it.
        behind = (time.monotonic_ns() - t0_ns) // period_ns - k
        if behind > 0:
            skip = min(behind, n_deadlines - k)
            skipped += skip
            k += skip
    wall_s = time.perf_counter() - wall0
    thread_cpu_s = time.thread_time() - cpu0
    _finish_in_flight(arcus, polls)

    return FlyLoopResult(
        rate_hz=rate_hz,
        deadline_ns=np.asarray(deadlines, dtype=np.int64),
        fired_ns=np.asarray(fired, dtype=np.int64),
        skipped=skipped,
        poll_send_ns=np.asarray([p.t_send_ns for p in polls], dtype=np.int64),
        poll_recv_ns=np.asarray([p.t_recv_ns for p in polls], dtype=np.int64),
        poll_steps=np.asarray([p.position_steps for p in polls], dtype=np.float64),
        channels_volts=np.asarray(channels, dtype=np.float64).reshape(-1, 6),
        wall_s=wall_s,
        thread_cpu_s=thread_cpu_s,
    )


def _finish_in_flight(arcus: LegacyArcus, polls: list[PollSample], timeout_s: float = 1.0) -> None:
    # Leave the port clean for the next user: collect the reply of the last query.
    deadline = time.monotonic() + timeout_s
    while arcus.in_flight and time.monotonic() < deadline:
        if arcus.wait_readable(deadline - time.monotonic()):
            sample = arcus.poll_reply()
            if sample is not None:
                polls.append(sample)
