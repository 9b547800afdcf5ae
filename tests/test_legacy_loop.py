"""The legacy Python baseline against a minimal scripted controller on a PTY (no wire timing).

The fake answers the few commands the legacy code sends and moves at constant speed, so the
position the loop assigns to each trigger can be checked against a known truth.
"""
import os
import threading
import time
import tty

import numpy as np
import pytest

from pymodaq_plugins_aefi.legacy import LegacyArcus, LegacyArcusError, run_fly_loop, step_scan_point

SPEED_PPS = 1500.0


class FakeArcus:
    """Answers @00 frames on a PTY master: PX, HSX=, X<n>, MST, STOPX; anything else -> ?<cmd>."""

    def __init__(self):
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self._lock = threading.Lock()
        self._move = (time.monotonic_ns(), 0.0, 0.0)  # t0_ns, from, to
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def truth_steps(self, t_ns):
        t0, a, b = self._move
        travel = SPEED_PPS * np.maximum(np.asarray(t_ns, dtype=float) - t0, 0) / 1e9
        return np.where(b >= a, np.minimum(a + travel, b), np.maximum(a - travel, b))

    def _reply(self, cmd):
        now = time.monotonic_ns()
        with self._lock:
            pos = float(self.truth_steps(now))
            moving = pos != self._move[2]
            if cmd == "PX":
                return str(int(round(pos)))
            if cmd.startswith("HSX="):
                return "OK"
            if cmd == "MST":
                return f"{4 if moving else 0}:0:0:0:0:0:0:36:0"
            if cmd == "STOPX":
                self._move = (now, pos, pos)
                return "OK"
            if cmd.startswith("X") and cmd[1:].lstrip("-").isdigit():
                if moving:
                    return "?PULSING"
                self._move = (now, pos, float(cmd[1:]))
                return "OK"
        return "?" + cmd

    def _serve(self):
        buf = b""
        while not self._stop:
            try:
                chunk = os.read(self.master, 256)
            except OSError:
                return
            buf += chunk
            while b"\r" in buf:
                frame, buf = buf.split(b"\r", 1)
                text = frame.decode()
                if text.startswith("@00"):
                    os.write(self.master, (self._reply(text[3:]) + "\r").encode())

    def close(self):
        self._stop = True
        os.close(self._slave)
        os.close(self.master)


@pytest.fixture
def fake():
    f = FakeArcus()
    yield f
    f.close()


def _probe(fast_steps, slow_steps):
    return np.array([fast_steps, slow_steps, 0.0, 0.0, 0.0, 1.0])


def test_query_and_refusal(fake):
    with LegacyArcus(fake.path, 115200) as arcus:
        assert arcus.position_steps("X") == 0
        assert not arcus.is_moving("X")
        with pytest.raises(LegacyArcusError, match=r"\?PY"):
            arcus.query("PY")


def test_device_must_be_two_digits(fake):
    with pytest.raises(ValueError, match="device"):
        LegacyArcus(fake.path, 115200, device="1")


def test_fly_loop_fires_every_deadline_once_and_aligns_positions(fake):
    with LegacyArcus(fake.path, 115200) as arcus:
        arcus.move_abs("X", 100_000)
        result = run_fly_loop(arcus, "X", 7.0, _probe, rate_hz=200.0, duration_s=0.5)
        truth = fake.truth_steps(result.fired_ns)  # before STOP ends the move
        arcus.stop("X")
    assert result.fired_ns.size + result.skipped == 100
    assert np.all(result.lateness_ns >= 0)
    assert np.all(np.diff(result.deadline_ns) > 0)
    assert result.poll_steps.size > 0
    assert np.all(np.diff(result.poll_steps) >= 0), "the axis only moves forward"
    # The detector saw the last polled position and the fixed slow axis.
    assert np.all(result.channels_volts[:, 1] == 7.0)
    # Post-aligned positions sit near the truth (bounded by speed × round trip, here tiny).
    errors = result.sample_positions_steps() - truth
    inside = (result.fired_ns > result.poll_recv_ns[0]) & (result.fired_ns < result.poll_send_ns[-1])
    assert np.median(np.abs(errors[inside])) < 50
    assert not arcus.in_flight


def test_fly_loop_rejects_bad_rate(fake):
    with LegacyArcus(fake.path, 115200) as arcus:
        with pytest.raises(ValueError, match="rate_hz"):
            run_fly_loop(arcus, "X", 0.0, _probe, rate_hz=0.0, duration_s=1.0)
        with pytest.raises(ValueError, match="duration_s"):
            run_fly_loop(arcus, "X", 0.0, _probe, rate_hz=10.0, duration_s=0.0)


def test_step_point_waits_like_the_application(fake):
    with LegacyArcus(fake.path, 115200) as arcus:
        timing = step_scan_point(arcus, "X", 150, 3.0, _probe, settle_s=0.05, averaging=3)
        assert arcus.position_steps("X") == 150
    assert timing.move_s >= 0.25  # the Arcus worker's fixed wait
    assert timing.settle_s >= 0.05
    assert timing.volts == pytest.approx((150.0, 3.0, 0.0, 0.0, 0.0, 1.0))
    assert timing.total_s == pytest.approx(timing.move_s + timing.settle_s + timing.acquire_s)
