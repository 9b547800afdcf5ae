"""A small stand-in for `_engine.ArcusController` (same method names and return shapes) for fast unit tests.

Motion is linear at the axis high speed against time.monotonic(); one instance per `fake://NAME`
is shared like the simulator's `sim://NAME`.
"""
import time

AXES = ("X", "Y", "Z", "U")


class _Axis:
    def __init__(self):
        self.start_steps, self.target_steps, self.t0, self.t1 = 0.0, 0.0, 0.0, 0.0
        self.high_pps, self.low_pps, self.accel_ms, self.decel_ms = 1500.0, 10.0, 300.0, 300.0
        self.plus_limit_steps = None
        self.plus_limit_error = self.minus_limit_error = False

    def position(self, now):
        if now >= self.t1 or self.t1 == self.t0:
            return self.target_steps
        return self.start_steps + (self.target_steps - self.start_steps) * (now - self.t0) / (self.t1 - self.t0)

    def start(self, target_steps, now):
        start = self.position(now)
        if self.plus_limit_steps is not None and target_steps > self.plus_limit_steps:
            target_steps = self.plus_limit_steps  # the switch ends the move there and latches the error
            self.plus_limit_error = True
        self.start_steps, self.target_steps, self.t0 = start, float(target_steps), now
        self.t1 = now + abs(target_steps - start) / self.high_pps


class FakeArcus:
    benches: dict = {}

    def __init__(self, url):
        self.url = url
        self.axes = FakeArcus.benches.setdefault(url.split("?")[0], {a: _Axis() for a in AXES})
        self.calls, self.closed, self.is_lent = [], False, False

    def _now(self):
        return time.monotonic()

    def positions(self):
        now = self._now()
        return {a: round(self.axes[a].position(now)) for a in AXES}

    def status(self, axis):
        ax = self.axes[axis]
        moving = self._now() < ax.t1
        return {"moving": moving, "plus_limit": ax.plus_limit_error and not moving,
                "plus_limit_error": ax.plus_limit_error and not moving, "minus_limit_error": ax.minus_limit_error}

    def move_abs(self, axis, steps):
        from pymodaq_plugins_aefi import _engine

        self.calls.append(("move_abs", axis, steps))
        ax = self.axes[axis]
        if ax.plus_limit_error:
            raise _engine.ControllerError("?LIMIT")
        ax.start(steps, self._now())

    def stop(self, axis=None):
        self.calls.append(("stop", axis))
        now = self._now()
        for name in ([axis] if axis else AXES):
            ax = self.axes[name]
            ax.start_steps = ax.target_steps = round(ax.position(now))
            ax.t0 = ax.t1 = now

    abort = stop

    def home(self, axis, positive=False, mode=0):
        self.calls.append(("home", axis, positive, mode))
        self.axes[axis].start(-50.0, self._now())

    def set_position(self, axis, steps):
        ax = self.axes[axis]
        ax.start_steps = ax.target_steps = float(steps)

    def speeds(self, axis):
        ax = self.axes[axis]
        return {"high_speed_pps": ax.high_pps, "low_speed_pps": ax.low_pps, "accel_ms": ax.accel_ms,
                "decel_ms": ax.decel_ms}

    def set_speeds(self, axis, high_speed_pps=None, low_speed_pps=None, accel_ms=None, decel_ms=None):
        self.calls.append(("set_speeds", axis, high_speed_pps, low_speed_pps, accel_ms, decel_ms))
        ax = self.axes[axis]
        for name, value in (("high_pps", high_speed_pps), ("low_pps", low_speed_pps), ("accel_ms", accel_ms),
                            ("decel_ms", decel_ms)):
            if value is not None:
                setattr(ax, name, value)

    def clear(self, axis=None):
        for name in ([axis] if axis else AXES):
            self.axes[name].plus_limit_error = self.axes[name].minus_limit_error = False

    def enable(self, axis, on=True):
        pass

    def close(self):
        self.closed = True
