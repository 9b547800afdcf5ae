"""A millimetre-level stage over the Arcus PMX-4EX-SA (`_engine.ArcusController`, which counts pulses).

One `ArcusStage` per controller link: every PyMoDAQ axis (X, Y, Z, U) of the same link shares it
(the DAQ_Move master/slave scheme). It is the *holder* of the link for the `PortArbiter`: while a
flyscan has the link, reads return the last known positions and motion commands raise
`StageBusyError` naming the borrower; when the link comes back the positions are read again.

Every target and every speed is checked against the axis configuration before anything is sent,
so a refused request never moves the stage.

Whoever shows the positions (the move plugin of each axis) subscribes with `on_link_restored`: when a
lease ends, the positions just re-read are handed to every subscriber, so the axes show where the
flyscan left them without waiting for a refresh.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Optional, Protocol, cast

from .. import _engine
from ..domain.units import StepScale
from .port_arbiter import PortArbiter

AXES: tuple[str, ...] = ("X", "Y", "Z", "U")

# What the PMX-4EX-SA accepts is defined once, in the engine's core (arcus::limits).
MIN_SPEED_PPS = float(_engine.MIN_SPEED_PPS)
MAX_SPEED_PPS = float(_engine.MAX_SPEED_PPS)
MIN_ACCEL_MS = _engine.MIN_ACCEL_MS
max_accel_ms = _engine.max_accel_ms

#: How long a release waits for an axis that is finishing its last low-speed pulses.
_SETTLE_BEFORE_LEASE_S = 2.0

_log = logging.getLogger(__name__)

#: A subscriber to the end of leases: gets the positions (mm, every axis) read when the link came back.
PositionsListener = Callable[[dict[str, float]], None]


class StageBusyError(RuntimeError):
    """The link is lent to a flyscan (or another borrower) right now."""


class TravelLimitError(ValueError):
    """A target outside the configured travel of an axis; nothing was sent."""


class SpeedRangeError(ValueError):
    """A speed or ramp time outside what the controller accepts; nothing was sent."""


class ArcusLink(Protocol):
    """What the stage uses of `_engine.ArcusController` (positions in pulses, speeds in pulses/s)."""

    @property
    def is_lent(self) -> bool: ...
    def positions(self) -> dict[str, int]: ...
    def status(self, axis: str) -> Mapping[str, Any]: ...
    def move_abs(self, axis: str, steps: int) -> None: ...
    def stop(self, axis: Optional[str] = None) -> None: ...
    def abort(self, axis: Optional[str] = None) -> None: ...
    def home(self, axis: str, positive: bool = False, mode: int = 0) -> None: ...
    def set_position(self, axis: str, steps: int) -> None: ...
    def speeds(self, axis: str) -> Mapping[str, Any]: ...
    def set_speeds(self, axis: str, high_speed_pps: Optional[int] = None, low_speed_pps: Optional[int] = None,
                   accel_ms: Optional[int] = None, decel_ms: Optional[int] = None) -> None: ...
    def clear(self, axis: Optional[str] = None) -> None: ...
    def enable(self, axis: str, on: bool = True) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class AxisTravel:
    """Soft travel limits of one axis, in mm (the bench: 0 at the − limit after homing, 1200 mm)."""

    min_mm: float = 0.0
    max_mm: float = 1200.0

    def __post_init__(self) -> None:
        if not self.min_mm < self.max_mm:
            raise ValueError(f"travel: min_mm ({self.min_mm}) must be below max_mm ({self.max_mm})")

    def contains(self, position_mm: float) -> bool:
        return self.min_mm <= position_mm <= self.max_mm


@dataclass(frozen=True)
class AxisSpeeds:
    """Motion profile of one axis: cruise (high) and start/stop (low) speeds in mm/s, ramps in ms."""

    high_mm_s: float
    low_mm_s: float
    accel_ms: float
    decel_ms: float


@dataclass(frozen=True)
class AxisConfig:
    """How one axis converts and where it may go."""

    scale: StepScale = field(default_factory=StepScale)
    travel: AxisTravel = field(default_factory=AxisTravel)


@dataclass(frozen=True)
class AxisState:
    """The controller's status bits of one axis (MST), named."""

    moving: bool = False
    plus_limit: bool = False
    minus_limit: bool = False
    home_input: bool = False
    alarm: bool = False
    plus_limit_error: bool = False
    minus_limit_error: bool = False
    alarm_error: bool = False

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> AxisState:
        return cls(**{name: bool(status.get(name, False)) for name in cls.__dataclass_fields__})

    @property
    def fault(self) -> Optional[str]:
        """The latched error that blocks further moves (cleared by `clear`), if any."""
        faults = [text for flag, text in ((self.plus_limit_error, "+ limit hit"),
                                          (self.minus_limit_error, "− limit hit"),
                                          (self.alarm_error, "driver alarm")) if flag]
        return ", ".join(faults) or None

    def describe(self) -> str:
        parts = ["moving" if self.moving else "idle"]
        parts += [text for flag, text in ((self.plus_limit, "+ limit switch"), (self.minus_limit, "− limit switch"),
                                          (self.home_input, "home switch"), (self.alarm, "alarm input")) if flag]
        if self.fault:
            parts.append(f"ERROR: {self.fault} (clear to move again)")
        return ", ".join(parts)


def default_opener(url: str) -> ArcusLink:
    # The stub types axis names as Literal["X", "Y", "Z", "U"]; the stage passes plain str (the names it
    # is given, checked against AXES or refused by the controller with ValueError). Otherwise the
    # controller matches ArcusLink member for member.
    return cast(ArcusLink, _engine.ArcusController(url))


class ArcusStage:
    """All axes of one Arcus controller in mm; the idle holder of its link (see module doc)."""

    holder_name = "DAQ_Move_AEFI"

    def __init__(self, url: str, controller: ArcusLink, arbiter: Optional[PortArbiter] = None,
                 axes: Optional[dict[str, AxisConfig]] = None) -> None:
        self.url = url
        self._controller: Optional[ArcusLink] = controller
        self._arbiter = arbiter
        self._axes = {name: (axes or {}).get(name, AxisConfig()) for name in AXES}
        # One wire exchange at a time, and a release never cuts one in half.
        self._lock = threading.RLock()
        self._lent = False
        self._positions_steps: dict[str, int] = dict.fromkeys(AXES, 0)
        self._users = 0
        self._listeners: list[PositionsListener] = []
        self.refresh_positions()

    # ---- life cycle ------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str, opener: Optional[Callable[[str], ArcusLink]] = None,
             axes: Optional[dict[str, AxisConfig]] = None) -> ArcusStage:
        """Open the controller at `url` and become the idle holder of its link."""
        opener = opener or default_opener
        arbiter = PortArbiter.for_url(url, opener)
        controller = opener(url)
        try:
            stage = cls(url, controller, arbiter, axes)
            arbiter.attach(stage)
        except Exception:
            controller.close()
            raise
        return stage

    def acquire(self) -> ArcusStage:
        """One more PyMoDAQ axis uses this stage; the link closes when the last one lets go."""
        self._users += 1
        return self

    def release(self) -> None:
        self._users -= 1
        if self._users <= 0:
            self.close()

    def close(self) -> None:
        with self._lock:
            if self._arbiter is not None:
                self._arbiter.detach(self)
            if self._controller is not None and not self._lent:
                self._controller.close()
            self._controller = None

    @property
    def is_open(self) -> bool:
        return self._controller is not None

    # ---- configuration ---------------------------------------------------------------------------
    def axis_config(self, axis: str) -> AxisConfig:
        return self._axes[self._check_axis(axis)]

    def configure_axis(self, axis: str, step_um: Optional[float] = None, travel: Optional[AxisTravel] = None) -> None:
        config = self.axis_config(axis)
        if step_um is not None:
            config = replace(config, scale=StepScale(step_um))
        if travel is not None:
            config = replace(config, travel=travel)
        self._axes[axis] = config

    # ---- LinkHolder (PortArbiter) ---------------------------------------------------------------
    def release_link(self) -> ArcusLink:
        """Hand the open controller to a borrower; refused while an axis still moves."""
        with self._lock:
            controller = self._require_link("lend the link")
            deadline = time.monotonic() + _SETTLE_BEFORE_LEASE_S
            moving = self._moving_axes(controller)
            while moving and time.monotonic() < deadline:
                time.sleep(0.02)
                moving = self._moving_axes(controller)
            if moving:
                raise StageBusyError(f"{self.url}: axis {', '.join(moving)} is moving; "
                                     "wait for the move to end before a flyscan takes the controller")
            self._read_positions(controller)
            self._lent = True
            return controller

    def restore_link(self, link: ArcusLink) -> None:
        """Take the controller back after a lease, re-read where the axes are and tell the subscribers."""
        with self._lock:
            self._controller = link
            self._lent = False
            self._read_positions(link)
            positions_mm = self._positions_mm()
        for listener in list(self._listeners):
            try:
                listener(positions_mm)
            except Exception:  # a display that fails must not keep the link from coming back
                _log.exception("a positions listener of %s failed", self.url)

    def on_link_restored(self, listener: PositionsListener) -> None:
        """Call `listener(positions_mm)` (on the borrower's thread) each time a lease ends."""
        self._listeners.append(listener)

    def remove_listener(self, listener: PositionsListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def is_lent(self) -> bool:
        return self._lent

    # ---- reads -----------------------------------------------------------------------------------
    def refresh_positions(self) -> dict[str, float]:
        """Positions of all axes in mm (the last known ones while the link is lent)."""
        with self._lock:
            if not self._lent and self._controller is not None:
                self._read_positions(self._controller)
            return self._positions_mm()

    def position_mm(self, axis: str) -> float:
        return self.refresh_positions()[self._check_axis(axis)]

    def position_steps(self, axis: str) -> int:
        self.refresh_positions()
        return self._positions_steps[self._check_axis(axis)]

    def state(self, axis: str) -> AxisState:
        """Status bits of the axis (`StageBusyError` while the link is lent)."""
        with self._lock:
            return AxisState.from_status(self._require_link("read the status").status(self._check_axis(axis)))

    def is_moving(self, axis: str) -> bool:
        return self.state(axis).moving

    def speeds(self, axis: str) -> AxisSpeeds:
        with self._lock:
            pps = self._require_link("read the speeds").speeds(self._check_axis(axis))
        scale = self.axis_config(axis).scale
        return AxisSpeeds(high_mm_s=scale.pps_to_speed(pps["high_speed_pps"]),
                          low_mm_s=scale.pps_to_speed(pps["low_speed_pps"]),
                          accel_ms=float(pps["accel_ms"]), decel_ms=float(pps["decel_ms"]))

    # ---- motion ----------------------------------------------------------------------------------
    def check_target(self, axis: str, target_mm: float) -> int:
        """The target in pulses, or `TravelLimitError` naming the axis and its limits."""
        config = self.axis_config(axis)
        if not config.travel.contains(target_mm):
            raise TravelLimitError(f"axis {axis}: target {target_mm:g} mm is outside the travel "
                                   f"[{config.travel.min_mm:g}, {config.travel.max_mm:g}] mm; nothing was moved")
        return config.scale.to_steps(target_mm)

    def move_abs(self, axis: str, target_mm: float) -> int:
        """Start a move to `target_mm` (checked first); returns the target in pulses."""
        steps = self.check_target(axis, target_mm)
        with self._lock:
            self._require_link(f"move {axis}").move_abs(axis, steps)
        return steps

    def move_rel(self, axis: str, delta_mm: float) -> int:
        return self.move_abs(axis, self.position_mm(axis) + delta_mm)

    def stop(self, axis: Optional[str] = None) -> None:
        """Decelerate to a stop (all axes when `axis` is None)."""
        with self._lock:
            self._require_link("stop").stop(axis)

    def abort(self, axis: Optional[str] = None) -> None:
        """Stop at once, no ramp."""
        with self._lock:
            self._require_link("abort").abort(axis)

    def clear(self, axis: Optional[str] = None) -> None:
        """Clear a latched limit/alarm error so the axis accepts moves again."""
        with self._lock:
            self._require_link("clear errors").clear(axis)

    def start_homing(self, axis: str) -> None:
        """Run to the home switch on the − side (the bench's `H[axis]-0`)."""
        with self._lock:
            self._require_link(f"home {axis}").home(self._check_axis(axis), False, 0)

    def finish_homing(self, axis: str) -> None:
        """The bench's convention after homing: the rest position becomes 0 mm."""
        with self._lock:
            controller = self._require_link(f"home {axis}")
            controller.set_position(axis, 0)
            self._read_positions(controller)

    def set_speeds(self, axis: str, speeds: AxisSpeeds) -> None:
        """Apply a motion profile after checking it against the controller's ranges."""
        high_pps, low_pps = self.check_speeds(axis, speeds)
        with self._lock:
            # the controller takes whole pulses/s and ms
            self._require_link(f"set the speeds of {axis}").set_speeds(
                axis, high_speed_pps=round(high_pps), low_speed_pps=max(1, round(low_pps)),
                accel_ms=round(speeds.accel_ms), decel_ms=round(speeds.decel_ms))

    def check_speeds(self, axis: str, speeds: AxisSpeeds) -> tuple[float, float]:
        scale = self.axis_config(axis).scale
        low_mm_s, high_mm_s = scale.pps_to_speed(MIN_SPEED_PPS), scale.pps_to_speed(MAX_SPEED_PPS)
        for name, value in (("high speed", speeds.high_mm_s), ("low speed", speeds.low_mm_s)):
            if not low_mm_s <= value <= high_mm_s:
                raise SpeedRangeError(f"axis {axis}: {name} {value:g} mm/s is outside [{low_mm_s:g}, {high_mm_s:g}] "
                                      f"mm/s (1..6000000 pulses/s at {scale.step_um:g} µm/step)")
        if speeds.low_mm_s > speeds.high_mm_s:
            raise SpeedRangeError(f"axis {axis}: low speed {speeds.low_mm_s:g} mm/s is above high speed "
                                  f"{speeds.high_mm_s:g} mm/s")
        high_pps, low_pps = scale.speed_to_pps(speeds.high_mm_s), scale.speed_to_pps(speeds.low_mm_s)
        ceiling = max(MIN_ACCEL_MS, max_accel_ms(high_pps, low_pps))
        for name, value in (("acceleration time", speeds.accel_ms), ("deceleration time", speeds.decel_ms)):
            if not MIN_ACCEL_MS <= value <= ceiling:
                raise SpeedRangeError(f"axis {axis}: {name} {value:g} ms is outside [{MIN_ACCEL_MS:g}, {ceiling:.0f}] "
                                      f"ms for these speeds")
        return high_pps, low_pps

    # ---- internals -------------------------------------------------------------------------------
    def _require_link(self, action: str) -> ArcusLink:
        if self._lent:
            borrower = self._arbiter.borrower if self._arbiter is not None else None
            raise StageBusyError(f"cannot {action}: the controller at {self.url} is lent to "
                                 f"{borrower or 'a flyscan'} until it ends")
        if self._controller is None:
            raise StageBusyError(f"cannot {action}: the controller at {self.url} is closed")
        return self._controller

    def _positions_mm(self) -> dict[str, float]:
        return {axis: self.axis_config(axis).scale.to_mm(steps) for axis, steps in self._positions_steps.items()}

    def _read_positions(self, controller: ArcusLink) -> None:
        positions = controller.positions()
        self._positions_steps = {axis: int(positions[axis]) for axis in AXES}

    def _moving_axes(self, controller: ArcusLink) -> list[str]:
        return [axis for axis in AXES if AxisState.from_status(controller.status(axis)).moving]

    @staticmethod
    def _check_axis(axis: str) -> str:
        if axis not in AXES:
            raise ValueError(f"axis must be one of {', '.join(AXES)}, got {axis!r}")
        return axis


def read_position_steps(url: str, axis: str, opener: Optional[Callable[[str], ArcusLink]] = None) -> int:
    """Where `axis` is now, from the stage holding the link if there is one, else through a short lease."""
    arbiter = PortArbiter.for_url(url, opener or default_opener)
    holder = arbiter.holder
    if isinstance(holder, ArcusStage):
        return holder.position_steps(axis)
    with arbiter.lease(f"reading the {axis} position") as controller:
        return int(controller.positions()[ArcusStage._check_axis(axis)])
