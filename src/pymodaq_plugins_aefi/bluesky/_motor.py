"""ArcusMotor: one axis of the Arcus stage as an ophyd-async movable (positions in mm).

Every axis of one controller shares its `ArcusStage` (the link's idle holder, as for the PyMoDAQ
axes): moves, stops, speeds and travel checks are the stage's; this class only speaks ophyd-async.
A flyscan leases the controller from the same stage, so an ArcusMotor and an AefiFlyer on one
bench never fight over the link.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from ophyd_async.core import (
    MovableLogic,
    SignalR,
    SignalRW,
    StandardMovable,
    StandardReadable,
    StandardReadableFormat,
    TimeoutCalculator,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ..adapters.arcus_stage import ArcusStage, AxisSpeeds

#: How often a move's readback is refreshed (the controller answers in a few ms at 9600 baud).
POLL_PERIOD_S = 0.02


@dataclass
class ArcusMoveLogic(MovableLogic[float]):
    """How an Arcus axis moves: through its stage, readback polled until the axis is idle."""

    stage: ArcusStage
    axis: str
    publish_readback: Callable[[float], None]

    async def check_move(self, new_position: float) -> None:
        # TravelLimitError before anything is sent, naming the axis and its travel
        self.stage.check_target(self.axis, float(new_position))

    async def move(self, new_position: float, timeout: TimeoutCalculator) -> None:
        await self.setpoint.set(float(new_position))
        await asyncio.to_thread(self.stage.move_abs, self.axis, float(new_position))
        await self._follow(timeout)

    async def stop(self) -> None:
        await asyncio.to_thread(self.stage.stop, self.axis)

    async def calculate_timeout(self, old_position: float, new_position: float) -> float | None:
        speeds = await asyncio.to_thread(self.stage.speeds, self.axis)
        # the cruise, both ramps (at most their own duration each) and a margin for the link
        ramps_s = (speeds.accel_ms + speeds.decel_ms) / 1e3
        return abs(new_position - old_position) / max(speeds.high_mm_s, 1e-3) + ramps_s + 10.0

    async def _follow(self, timeout: TimeoutCalculator) -> None:
        async def until_idle() -> None:
            while True:
                position_mm = await asyncio.to_thread(self.stage.position_mm, self.axis)
                self.publish_readback(position_mm)
                if not await asyncio.to_thread(self.stage.is_moving, self.axis):
                    self.publish_readback(await asyncio.to_thread(self.stage.position_mm, self.axis))
                    return
                await asyncio.sleep(POLL_PERIOD_S)

        try:
            await asyncio.wait_for(until_idle(), timeout())
        except BaseException:
            # a timeout or a cancelled status (RunEngine abort/stop) never leaves the axis running
            await asyncio.to_thread(self.stage.stop, self.axis)
            raise


class ArcusMotor(StandardReadable, StandardMovable[float]):
    """One Arcus axis (X, Y, Z or U) in mm, usable in bp.scan, bp.grid_scan and bps.mv.

    `velocity` (mm/s) and `acceleration` (mm/s², from the controller's ramp time) are signals read
    from and written to the controller; `low_limit_travel` / `high_limit_travel` come from the
    stage's travel configuration (the same limits every move is checked against).
    """

    def __init__(self, stage: ArcusStage, axis: str, name: str = "") -> None:
        self._arcus = stage
        self._axis = axis
        stage.axis_config(axis)  # an unknown axis is refused here
        travel = stage.axis_config(axis).travel
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.user_readback, self._set_readback = soft_signal_r_and_setter(
                float, stage.position_mm(axis), units="mm", precision=4)
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.velocity = soft_signal_rw(float, units="mm/s", precision=3, getter=self._velocity,
                                           setter=self._set_velocity)
            self.acceleration = soft_signal_rw(float, units="mm/s^2", precision=3, getter=self._acceleration,
                                               setter=self._set_acceleration)
            self.low_limit_travel: SignalR[float] = soft_signal_r_and_setter(float, travel.min_mm, units="mm")[0]
            self.high_limit_travel: SignalR[float] = soft_signal_r_and_setter(float, travel.max_mm, units="mm")[0]
        self.user_setpoint: SignalRW[float] = soft_signal_rw(float, stage.position_mm(axis), units="mm", precision=4)
        super().__init__(name=name)

    @property
    def axis(self) -> str:
        return self._axis

    @property
    def arcus_stage(self) -> ArcusStage:
        """The stage shared by every axis of this controller (`stage()` is Bluesky's verb)."""
        return self._arcus

    @cached_property
    def movable_logic(self) -> ArcusMoveLogic:
        return ArcusMoveLogic(setpoint=self.user_setpoint, readback=self.user_readback, stage=self._arcus,
                              axis=self._axis, publish_readback=self._set_readback)

    # ---- speeds, in mm, through the stage's checks -----------------------------------------------
    async def _speeds(self) -> AxisSpeeds:
        return await asyncio.to_thread(self._arcus.speeds, self._axis)

    async def _velocity(self) -> float:
        return (await self._speeds()).high_mm_s

    async def _set_velocity(self, velocity_mm_s: float | None) -> None:
        if velocity_mm_s is None:
            return
        speeds = await self._speeds()
        accel = _acceleration_mm_s2(speeds)
        high = float(velocity_mm_s)
        ramp_ms = (high - speeds.low_mm_s) / accel * 1e3 if accel > 0 else speeds.accel_ms
        await self._apply(AxisSpeeds(high, min(speeds.low_mm_s, high), ramp_ms, ramp_ms))

    async def _acceleration(self) -> float:
        return _acceleration_mm_s2(await self._speeds())

    async def _set_acceleration(self, accel_mm_s2: float | None) -> None:
        if accel_mm_s2 is None:
            return
        if not accel_mm_s2 > 0:
            raise ValueError(f"axis {self._axis}: acceleration must be > 0 mm/s², got {accel_mm_s2}")
        speeds = await self._speeds()
        ramp_ms = (speeds.high_mm_s - speeds.low_mm_s) / float(accel_mm_s2) * 1e3
        await self._apply(AxisSpeeds(speeds.high_mm_s, speeds.low_mm_s, ramp_ms, ramp_ms))

    async def _apply(self, speeds: AxisSpeeds) -> None:
        await asyncio.to_thread(self._arcus.set_speeds, self._axis, speeds)


def _acceleration_mm_s2(speeds: AxisSpeeds) -> float:
    """The controller ramps linearly from the low to the high speed in accel_ms."""
    if speeds.accel_ms <= 0:
        return float("inf")
    return (speeds.high_mm_s - speeds.low_mm_s) / (speeds.accel_ms / 1e3)
