"""The legacy flyscan with the acquisition board: one Python thread reads the board on each trigger.

This is how the AEFI Python code flies a line with the board as its detector: the fast axis is
launched at constant speed, and one loop fires software triggers on an absolute schedule; on each
trigger it reads the board (one blocking `m<n>*` round trip, ~11.5 ms at one average) and then the
position (one blocking Arcus round trip), stamping both. A deadline the loop has fallen a whole
period behind on is skipped and counted (a burst of late reads would only pile up). Position per
sample is the legacy post-processing: the middle of the board's round trip, interpolated on the
position polls' stamp midpoints.

The board and the Arcus are injected as callables, so this module imports neither the Rust
extension nor PyMoDAQ.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: Reads the board once: six voltages (blocking).
ReadBoard = Callable[[], np.ndarray]
#: Reads the fast axis' position once (steps, blocking).
ReadPosition = Callable[[], int]


@dataclass(frozen=True)
class BoardLineResult:
    """One line of the legacy board loop. Stamps are CLOCK_MONOTONIC ns."""

    rate_hz: float
    board_send_ns: np.ndarray  # before each board command
    board_recv_ns: np.ndarray  # after each board reply
    channels_volts: np.ndarray  # (samples, 6)
    poll_send_ns: np.ndarray
    poll_recv_ns: np.ndarray
    poll_steps: np.ndarray
    skipped: int  # trigger deadlines never fired

    @property
    def sample_t_ns(self) -> np.ndarray:
        """The legacy sample instant: the middle of the board's round trip."""
        return (self.board_send_ns + self.board_recv_ns) // 2

    def sample_positions_steps(self) -> np.ndarray:
        """Position of each sample, interpolated on the polls' stamp midpoints (legacy post-processing)."""
        if self.poll_steps.size == 0:
            return np.full(self.sample_t_ns.shape, np.nan)
        mid_ns = (self.poll_send_ns + self.poll_recv_ns) / 2
        return np.interp(self.sample_t_ns, mid_ns, self.poll_steps)


def run_board_line(
    read_board: ReadBoard,
    read_position: ReadPosition,
    rate_hz: float,
    until: Callable[[int], bool],
    max_duration_s: float = 120.0,
) -> BoardLineResult:
    """Trigger at `rate_hz` until `until(position_steps)` is true (the line is flown) or
    `max_duration_s` has passed; on each trigger read the board, then the position."""
    if not 0 < rate_hz <= 100_000:
        raise ValueError(f"rate_hz must be in (0, 100000] Hz, got {rate_hz}")
    period_ns = round(1e9 / rate_hz)
    board_send: list[int] = []
    board_recv: list[int] = []
    channels: list[np.ndarray] = []
    poll_send: list[int] = []
    poll_recv: list[int] = []
    poll_steps: list[int] = []
    skipped = 0
    t0_ns = time.monotonic_ns()
    give_up_ns = t0_ns + round(max_duration_s * 1e9)
    k = 0
    while True:
        deadline_ns = t0_ns + k * period_ns
        wait_s = (deadline_ns - time.monotonic_ns()) / 1e9
        if wait_s > 0:
            time.sleep(wait_s)
        board_send.append(time.monotonic_ns())
        channels.append(np.asarray(read_board(), dtype=np.float64))
        board_recv.append(time.monotonic_ns())
        poll_send.append(time.monotonic_ns())
        steps = int(read_position())
        poll_recv.append(time.monotonic_ns())
        poll_steps.append(steps)
        k += 1
        now = time.monotonic_ns()
        if until(steps) or now > give_up_ns:
            break
        behind = (now - t0_ns) // period_ns - k
        if behind > 0:
            skipped += behind
            k += behind
    return BoardLineResult(
        rate_hz=rate_hz,
        board_send_ns=np.asarray(board_send, dtype=np.int64),
        board_recv_ns=np.asarray(board_recv, dtype=np.int64),
        channels_volts=np.asarray(channels, dtype=np.float64).reshape(-1, 6),
        poll_send_ns=np.asarray(poll_send, dtype=np.int64),
        poll_recv_ns=np.asarray(poll_recv, dtype=np.int64),
        poll_steps=np.asarray(poll_steps, dtype=np.float64),
        skipped=skipped,
    )
