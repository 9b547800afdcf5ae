"""PyMoDAQ actuator for the AEFI stage: the Arcus PMX-4EX-SA axes X, Y, Z, U in mm.

A thin shell over `adapters.arcus_stage.ArcusStage`: the master axis opens the controller, the other
axes (slaves) share it. While a flyscan has borrowed the link, moves are refused with a status
message saying so and the last known position is shown; when the link comes back every axis
shows its new position at once.
"""
import time
from typing import Optional

from pymodaq.control_modules.move_utility_classes import DAQ_Move_base, DataActuatorType, comon_parameters_fun, main
from pymodaq.control_modules.thread_commands import ThreadStatus
from pymodaq.utils.data import DataActuator
from pymodaq_utils.utils import ThreadCommand
from qtpy.QtCore import QTimer, Signal

from pymodaq_plugins_aefi import config
from pymodaq_plugins_aefi.adapters.arcus_stage import (
    AXES,
    ArcusStage,
    AxisSpeeds,
    AxisState,
    AxisTravel,
    StageBusyError,
)
from pymodaq_plugins_aefi.adapters.links import OTHER_URL, arcus_link_choices
from pymodaq_plugins_aefi.domain.units import StepScale

_STEP_UM = config("arcus", "step_um")
_SCALE = StepScale(_STEP_UM)
_HOMING_POLL_MS = 50


class DAQ_Move_AEFI(DAQ_Move_base):
    """Axes of the AEFI bench's Arcus PMX-4EX-SA stage controller (positions in mm)."""

    # the systems the Rust extension is built for (wheels); PyMoDAQ refuses to start the plugin elsewhere
    supported_platforms = ("win32", "linux", "darwin")
    is_multiaxes = True
    _axis_names = list(AXES)
    _controller_units = "mm"
    _epsilons = _SCALE.step_mm  # the controller lands on a whole pulse: one step is "reached"
    data_actuator_type = DataActuatorType.DataActuator

    params = [
        {"title": "Connection:", "name": "connection", "type": "list",
         "limits": arcus_link_choices(config("arcus", "url")), "value": config("arcus", "url"),
         "tip": "Serial ports found on this computer and the built-in simulator; pick the last entry to type a URL"},
        {"title": "URL:", "name": "url", "type": "str", "value": config("arcus", "url"),
         "tip": "sim://NAME, serial:///dev/ttyUSB0?baud=9600, tcp://HOST:PORT or usb://4ex00"},
        {"title": "Step size (µm):", "name": "step_um", "type": "float", "value": _STEP_UM, "min": 1e-3,
         "tip": "Stage travel per controller pulse (21.8 µm at 1/16 microstep, 43.6 µm at 1/8)"},
        {"title": "Travel min (mm):", "name": "travel_min_mm", "type": "float",
         "value": config("arcus", "travel_min_mm")},
        {"title": "Travel max (mm):", "name": "travel_max_mm", "type": "float",
         "value": config("arcus", "travel_max_mm")},
        {"title": "Speeds:", "name": "speeds", "type": "group", "children": [
            {"title": "High speed (mm/s):", "name": "high_mm_s", "type": "float",
             "value": _SCALE.pps_to_speed(config("arcus", "high_speed_pps"))},
            {"title": "Low speed (mm/s):", "name": "low_mm_s", "type": "float",
             "value": _SCALE.pps_to_speed(config("arcus", "low_speed_pps"))},
            {"title": "Acceleration (ms):", "name": "accel_ms", "type": "float", "value": config("arcus", "accel_ms")},
            {"title": "Deceleration (ms):", "name": "decel_ms", "type": "float", "value": config("arcus", "decel_ms")},
        ]},
        {"title": "Homing timeout (s):", "name": "home_timeout_s", "type": "float", "value": 120.0, "min": 1.0,
         "tip": "Homing runs to the home switch on the − side; with no switch found in this time the axis is "
                "stopped"},
        {"title": "Axis status:", "name": "axis_status", "type": "str", "value": "", "readonly": True},
        {"title": "Clear error:", "name": "clear_error", "type": "bool_push", "value": False,
         "tip": "Clear a latched limit or alarm error so the axis accepts moves again"},
    ] + comon_parameters_fun(axis_names=_axis_names, epsilon=_SCALE.step_mm)

    # A lease ends on the flyscan's thread; this signal brings the news to the plugin's own thread.
    _link_restored = Signal(object)

    def ini_attributes(self) -> None:
        self.controller: Optional[ArcusStage] = None
        self._homing_timer = QTimer(self)
        self._homing_timer.setInterval(_HOMING_POLL_MS)
        self._homing_timer.timeout.connect(self._check_homing)
        self._homing_started_s = 0.0
        self._link_restored.connect(self._show_position_after_lease)
        self._lease_listener = self._link_restored.emit  # the same object to subscribe and unsubscribe

    # ---- life cycle ------------------------------------------------------------------------------
    def ini_stage(self, controller: Optional[ArcusStage] = None) -> tuple[str, bool]:
        try:
            stage = ArcusStage.open(self.settings["url"]) if self.is_master else controller
            if stage is None:
                return f"AEFI {self.axis_name}: a slave axis needs the master's controller", False
            self.controller = stage.acquire()
            self.controller.on_link_restored(self._lease_listener)
            self._apply_axis_config()
            self._apply_speeds()
            self._show_state(self.controller.state(self.axis_name))
        except Exception as error:  # every failure is shown to the user in the init message
            return f"AEFI {self.axis_name}: {error}", False
        return f"AEFI axis {self.axis_name} on {self.controller.url}", True

    def close(self) -> None:
        self._homing_timer.stop()
        if self.controller is not None:
            self.controller.remove_listener(self._lease_listener)
            self.controller.release()
            self.controller = None

    def commit_settings(self, param) -> None:
        name = param.name()
        if name == "connection" and param.value() != OTHER_URL:
            self.settings.child("url").setValue(param.value())
        if self.controller is None:
            return
        try:
            if name in ("step_um", "travel_min_mm", "travel_max_mm"):
                self._apply_axis_config()
            elif name in ("high_mm_s", "low_mm_s", "accel_ms", "decel_ms"):
                self._apply_speeds()
            elif name == "clear_error":
                self.controller.clear(self.axis_name)
                self._show_state(self.controller.state(self.axis_name))
            elif name == "axis":
                self._apply_axis_config()
        except (ValueError, StageBusyError) as error:
            self._report(str(error))

    # ---- position and motion ---------------------------------------------------------------------
    def get_actuator_value(self) -> DataActuator:
        position = DataActuator(data=self.controller.position_mm(self.axis_name), units=self.axis_unit)
        return self.get_position_with_scaling(position)

    def move_abs(self, value: DataActuator) -> None:
        value = self.check_bound(value)
        self.target_value = value
        self._move_to(self.set_position_with_scaling(value).value(self.axis_unit))

    def move_rel(self, value: DataActuator) -> None:
        value = self.check_bound(self.current_value + value) - self.current_value
        self.target_value = value + self.current_value
        self._move_to(self.set_position_with_scaling(self.target_value).value(self.axis_unit))

    def move_home(self) -> None:
        try:
            self.controller.start_homing(self.axis_name)
        except Exception as error:
            self._report(f"homing {self.axis_name} refused: {error}")
            self.move_done()
            return
        self._homing_started_s = time.monotonic()
        self._homing_timer.start()

    def stop_motion(self) -> None:
        self._homing_timer.stop()
        try:
            self.controller.stop(self.axis_name)
        except StageBusyError as error:
            self._report(str(error))
        # while polling, the poll sees the axis come to rest and reports the final position
        if not self.poll_timer.isActive():
            self.move_done()

    def check_target_reached(self) -> None:
        """Ends the move when the axis is at rest, whether on target, stopped, or halted by a limit/alarm."""
        try:
            state = self.controller.state(self.axis_name)
        except StageBusyError as error:
            self.poll_timer.stop()
            self._report(str(error))
            self.move_done()
            return
        self._show_state(state)
        if state.moving:
            super().check_target_reached()
            return
        self.poll_timer.stop()
        if state.fault:
            self._report(f"axis {self.axis_name} stopped: {state.fault}; clear the error before moving again")
        self.move_done()

    def user_condition_to_reach_target(self) -> bool:
        # within one step is not enough while the last low-speed pulses are still going out
        return not self.controller.state(self.axis_name).moving

    # ---- helpers ---------------------------------------------------------------------------------
    def _show_position_after_lease(self, positions_mm: dict) -> None:
        if self.controller is not None:
            self.emit_value(self.get_actuator_value())

    def _move_to(self, target_mm: float) -> None:
        try:
            self.controller.move_abs(self.axis_name, target_mm)
        except Exception as error:  # refused before motion (travel) or by the controller (limit, alarm, busy)
            self.target_value = self.current_value
            self._report(str(error))

    def _check_homing(self) -> None:
        try:
            state = self.controller.state(self.axis_name)
            timed_out = time.monotonic() - self._homing_started_s > self.settings["home_timeout_s"]
            if state.moving and not timed_out:
                self.emit_value(self.get_actuator_value())
                return
            self._homing_timer.stop()
            if state.moving:
                self.controller.stop(self.axis_name)
                self._report(f"homing {self.axis_name}: no home switch within {self.settings['home_timeout_s']:g} s; "
                             "axis stopped, position not zeroed")
                self.move_done()
                return
            if state.fault:
                self._report(f"homing {self.axis_name} stopped: {state.fault}")
            else:
                self.controller.finish_homing(self.axis_name)
        except Exception as error:
            self._homing_timer.stop()
            self._report(f"homing {self.axis_name} failed: {error}")
        self.move_done()

    def _apply_axis_config(self) -> None:
        step_um = self.settings["step_um"]
        self.controller.configure_axis(self.axis_name, step_um=step_um,
                                       travel=AxisTravel(self.settings["travel_min_mm"],
                                                         self.settings["travel_max_mm"]))
        self.epsilon = step_um * 1e-3
        self.settings.child("epsilon").setValue(self.epsilon)

    def _apply_speeds(self) -> None:
        self.controller.set_speeds(self.axis_name, AxisSpeeds(
            high_mm_s=self.settings["speeds", "high_mm_s"], low_mm_s=self.settings["speeds", "low_mm_s"],
            accel_ms=self.settings["speeds", "accel_ms"], decel_ms=self.settings["speeds", "decel_ms"]))

    def _show_state(self, state: AxisState) -> None:
        text = state.describe()
        if self.settings["axis_status"] != text:
            self.settings.child("axis_status").setValue(text)

    def _report(self, message: str) -> None:
        self.emit_status(ThreadCommand(ThreadStatus.UPDATE_STATUS, f"AEFI {self.axis_name}: {message}"))


if __name__ == "__main__":
    main(__file__, init=False)
