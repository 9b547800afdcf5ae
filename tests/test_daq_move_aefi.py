"""DAQ_Move_AEFI driven the way the Dashboard does it (PyMoDAQ's plugin-testing harness), on the
in-process Arcus simulator (`sim://NAME?timing=none`: motion is timed, replies are immediate)."""
import itertools
import time

import pytest
from pymodaq.utils.plugin_testing import (
    make_actuator,
    move_abs_and_wait,
    move_home_and_wait,
    move_rel_and_wait,
    wait_for_signal,
)
from qtpy.QtWidgets import QApplication

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.arcus_stage import default_opener
from pymodaq_plugins_aefi.adapters.port_arbiter import PortArbiter
from pymodaq_plugins_aefi.daq_move_plugins.daq_move_AEFI import DAQ_Move_AEFI

STEP_MM = 0.0218
_BENCHES = itertools.count()
pytestmark = pytest.mark.gui


@pytest.fixture
def url():
    return f"sim://move{next(_BENCHES)}?timing=none&home=X=0&home=Y=0"


def _fast(**extra):
    return {"speeds": {"high_mm_s": 100.0, "low_mm_s": 1.0, "accel_ms": 50.0, "decel_ms": 50.0}, **extra}


def actuator(url, axis="X", controller=None, **settings):
    plugin = DAQ_Move_AEFI()
    plugin.settings.child("url").setValue(url)
    plugin.settings.child("controller", "axis").setValue(axis)
    for group, values in _fast(**settings).items():
        if isinstance(values, dict):
            for name, value in values.items():
                plugin.settings.child(group, name).setValue(value)
        else:
            plugin.settings.child(group).setValue(values)
    return make_actuator_from(plugin, controller)


def make_actuator_from(plugin, controller):
    from pymodaq.control_modules.thread_commands import ControllerStatus

    if controller is not None:
        plugin.settings.child("controller", "controller_status").setValue(ControllerStatus.SLAVE)
    plugin.init_info, plugin.initialized = plugin.ini_stage(controller)
    assert plugin.initialized, plugin.init_info
    return plugin


def statuses(plugin):
    seen = []
    plugin.emit_status = lambda command: seen.append(str(command.attribute))
    return seen


def test_harness_class_init_uses_the_configured_simulator_url(url):
    plugin = make_actuator(DAQ_Move_AEFI, url=url)
    assert plugin.initialized, plugin.init_info
    assert plugin.axis_unit == "mm" and plugin.axis_name == "X"
    plugin.close()


def test_unknown_port_is_refused_with_the_ports_that_exist():
    plugin = DAQ_Move_AEFI()
    plugin.settings.child("url").setValue("serial:///dev/ttyNOPE0")
    info, initialized = plugin.ini_stage()
    assert not initialized
    from serial.tools import list_ports

    assert "/dev/ttyNOPE0 not found" in info, info
    assert all(port.device in info for port in list_ports.comports()), info  # the ports the user can pick


@pytest.mark.parametrize("axis, target_mm", [("X", 1.5), ("Y", 2.25)])
def test_move_abs_reaches_target_within_one_step(url, axis, target_mm):
    plugin = actuator(url, axis)
    position = move_abs_and_wait(plugin, target_mm)
    assert abs(position.value() - target_mm) <= STEP_MM
    assert abs(plugin.controller.position_mm(axis) - target_mm) <= STEP_MM
    position = move_rel_and_wait(plugin, -0.5)
    assert abs(position.value() - (target_mm - 0.5)) <= STEP_MM
    plugin.close()


def test_stop_mid_move_leaves_the_axis_at_rest_short_of_the_target(url):
    plugin = actuator(url, speeds={"high_mm_s": 2.0, "low_mm_s": 1.0, "accel_ms": 50.0, "decel_ms": 50.0})
    plugin.move_is_done = False
    plugin.move_abs(_data(plugin, 10.0))
    plugin.poll_moving()
    time.sleep(0.2)
    position = wait_for_signal(plugin.move_done_signal, plugin.stop_motion,
                               poll=lambda: plugin.check_target_reached() if plugin.poll_timer.isActive() else None)
    assert 0.0 < position.value() < 10.0
    assert not plugin.controller.is_moving("X")
    time.sleep(0.1)
    assert plugin.controller.position_mm("X") == pytest.approx(position.value(), abs=STEP_MM)
    plugin.close()


def _data(plugin, value):
    from pymodaq.utils.data import DataActuator

    return DataActuator(plugin._title, data=value, units=plugin.axis_unit)


def test_home_runs_to_the_switch_and_zeroes(url):
    plugin = actuator(url)
    move_abs_and_wait(plugin, 0.5)
    position = move_home_and_wait(plugin)
    assert position.value() == 0.0
    assert plugin.controller.position_mm("X") == 0.0
    plugin.close()


def test_homing_without_a_switch_gives_up_and_stops(url):
    plugin = actuator(url.replace("&home=X=0", ""), home_timeout_s=1.0)
    seen = statuses(plugin)
    move_home_and_wait(plugin, timeout_ms=10000)
    assert any("no home switch within 1 s" in s for s in seen), seen
    time.sleep(0.5)
    assert not plugin.controller.is_moving("X")
    plugin.close()


def test_two_axes_share_one_controller(url):
    x = actuator(url, "X")
    y = actuator(url, "Y", controller=x.controller)
    assert y.controller is x.controller
    move_abs_and_wait(x, 1.0)
    move_abs_and_wait(y, 0.5)
    positions = x.controller.refresh_positions()
    assert abs(positions["X"] - 1.0) <= STEP_MM and abs(positions["Y"] - 0.5) <= STEP_MM
    x.close()
    assert x.controller is None and y.controller.is_open  # the slave still has it
    y.close()


def test_target_beyond_travel_is_refused_with_axis_and_limits(url):
    plugin = actuator(url, "Y", travel_max_mm=3.0)
    seen = statuses(plugin)
    position = move_abs_and_wait(plugin, 5.0)
    assert position.value() == 0.0
    assert any("axis Y: target 5 mm is outside the travel [0, 3] mm" in s for s in seen), seen
    plugin.close()


def test_limit_hit_is_shown_and_the_axis_left_stopped(url):
    plugin = actuator(url)
    _engine.sim_inject_fault(url, "limit", axis="X", position_steps=30)
    seen = statuses(plugin)
    position = move_abs_and_wait(plugin, 2.0)
    assert position.value() == pytest.approx(30 * STEP_MM)
    assert any("+ limit hit" in s for s in seen), seen
    assert "ERROR" in plugin.settings["axis_status"]
    assert not plugin.controller.is_moving("X")
    plugin.settings.child("clear_error").setValue(True)
    plugin.commit_settings(plugin.settings.child("clear_error"))
    assert "ERROR" not in plugin.settings["axis_status"]
    plugin.close()


def test_lease_release_and_reacquire(url):
    plugin = actuator(url)
    move_abs_and_wait(plugin, 1.0)
    arbiter = PortArbiter.for_url(url, default_opener)
    seen = statuses(plugin)
    with arbiter.lease("AEFI flyscan line") as controller:
        position = move_abs_and_wait(plugin, 2.0)  # refused, reported, no hang
        assert abs(position.value() - 1.0) <= STEP_MM
        assert any("lent to AEFI flyscan line" in s for s in seen), seen
        controller.move_abs("X", 200)  # the flyscan moves the stage
        controller.wait_idle("X", 10.0)
    assert plugin.get_actuator_value().value() == pytest.approx(200 * STEP_MM)
    position = move_abs_and_wait(plugin, 2.0)
    assert abs(position.value() - 2.0) <= STEP_MM
    plugin.close()
    QApplication.processEvents()
