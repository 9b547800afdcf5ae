"""ArcusStage: mm ↔ pulses, refusals before motion, and the link lease (holder side)."""
import itertools
import time

import pytest

from arcus_fake import FakeArcus
from pymodaq_plugins_aefi.adapters.arcus_stage import (
    ArcusStage,
    AxisSpeeds,
    AxisTravel,
    SpeedRangeError,
    StageBusyError,
    TravelLimitError,
    read_position_steps,
)
from pymodaq_plugins_aefi.adapters.port_arbiter import LeaseBusyError, LinkHolder, PortArbiter

_BENCHES = itertools.count()


@pytest.fixture
def stage():
    url = f"fake://stage{next(_BENCHES)}"
    stage = ArcusStage.open(url, opener=FakeArcus)
    yield stage
    stage.close()


def wait_idle(stage, axis, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while stage.is_moving(axis):
        assert time.monotonic() < deadline, f"{axis} still moving"
        time.sleep(0.01)


def test_stage_is_a_link_holder_attached_to_the_arbiter(stage):
    assert isinstance(stage, LinkHolder)
    assert PortArbiter.for_url(stage.url, FakeArcus).holder is stage


def test_move_converts_mm_to_nearest_pulse(stage):
    stage.set_speeds("X", AxisSpeeds(high_mm_s=200.0, low_mm_s=0.2, accel_ms=100, decel_ms=100))
    steps = stage.move_abs("X", 1.0)
    assert steps == round(1.0 / 0.0218) == 46
    wait_idle(stage, "X")
    assert stage.position_mm("X") == pytest.approx(46 * 0.0218)
    assert abs(stage.position_mm("X") - 1.0) <= 0.0218 / 2


def test_out_of_travel_target_is_refused_before_motion(stage):
    stage.configure_axis("Y", travel=AxisTravel(0.0, 600.0))
    controller = stage.release_link()
    stage.restore_link(controller)
    with pytest.raises(TravelLimitError, match=r"axis Y: target 700 mm is outside the travel \[0, 600\] mm"):
        stage.move_abs("Y", 700.0)
    with pytest.raises(TravelLimitError, match="axis Y"):
        stage.move_abs("Y", -0.5)
    assert not [c for c in controller.calls if c[0] == "move_abs"]


@pytest.mark.parametrize("speeds, message", [
    (AxisSpeeds(0.0, 0.0, 300, 300), r"axis X: high speed 0 mm/s is outside \[0.0218, 130800\] mm/s"),
    (AxisSpeeds(200_000.0, 0.2, 300, 300), "high speed 200000 mm/s"),
    (AxisSpeeds(10.0, 20.0, 300, 300), "low speed 20 mm/s is above high speed 10 mm/s"),
    (AxisSpeeds(32.7, 0.218, 0, 300), r"acceleration time 0 ms is outside \[1, "),
    (AxisSpeeds(32.7, 0.218, 300, 10**6), "deceleration time 1e\\+06 ms"),
])
def test_bad_speeds_are_refused_before_anything_is_sent(stage, speeds, message):
    controller = stage.release_link()
    stage.restore_link(controller)
    with pytest.raises(SpeedRangeError, match=message):
        stage.set_speeds("X", speeds)
    assert not [c for c in controller.calls if c[0] == "set_speeds"]


def test_speeds_round_trip_in_mm(stage):
    stage.set_speeds("Y", AxisSpeeds(32.7, 0.218, 300, 250))
    speeds = stage.speeds("Y")
    assert speeds.high_mm_s == pytest.approx(32.7) and speeds.low_mm_s == pytest.approx(0.218)
    assert (speeds.accel_ms, speeds.decel_ms) == (300, 250)


def test_lease_lends_the_controller_and_positions_are_reread(stage):
    arbiter = PortArbiter.for_url(stage.url, FakeArcus)
    with arbiter.lease("flyscan line") as controller:
        assert stage.is_lent
        with pytest.raises(StageBusyError, match="lent to flyscan line"):
            stage.move_abs("X", 1.0)
        controller.set_position("X", 100)  # the scan moved the stage meanwhile
        assert stage.position_mm("X") == 0.0  # last known while lent
    assert not stage.is_lent
    assert stage.position_mm("X") == pytest.approx(100 * 0.0218)
    stage.move_abs("X", 0.0)  # usable again


def test_lease_is_refused_while_an_axis_moves(stage, monkeypatch):
    monkeypatch.setattr("pymodaq_plugins_aefi.adapters.arcus_stage._SETTLE_BEFORE_LEASE_S", 0.05)
    stage.set_speeds("X", AxisSpeeds(0.5, 0.2, 100, 100))
    stage.move_abs("X", 5.0)
    with (pytest.raises(StageBusyError, match="axis X is moving"),
          PortArbiter.for_url(stage.url, FakeArcus).lease("flyscan")):
        pass
    assert not stage.is_lent
    stage.stop("X")


def test_second_stage_on_the_same_link_is_refused(stage):
    with pytest.raises(LeaseBusyError, match="must share that controller"):
        ArcusStage.open(stage.url + "?timing=none", opener=FakeArcus)


def test_limit_error_is_reported_and_blocks_moves_until_cleared(stage):
    controller = stage.release_link()
    stage.restore_link(controller)
    stage.set_speeds("X", AxisSpeeds(200.0, 0.2, 100, 100))
    controller.axes["X"].plus_limit_steps = 20
    stage.move_abs("X", 1.0)
    wait_idle(stage, "X")
    state = stage.state("X")
    assert state.fault == "+ limit hit" and "ERROR" in state.describe()
    with pytest.raises(Exception, match="LIMIT"):
        stage.move_abs("X", 0.0)
    stage.clear("X")
    assert stage.state("X").fault is None


def test_users_share_and_last_one_closes():
    url = f"fake://stage{next(_BENCHES)}"
    stage = ArcusStage.open(url, opener=FakeArcus).acquire()
    controller = stage.release_link()
    stage.restore_link(controller)
    stage.acquire()
    stage.release()
    assert stage.is_open and not controller.closed
    stage.release()
    assert not stage.is_open and controller.closed
    assert PortArbiter.for_url(url, FakeArcus).holder is None


def test_position_is_read_from_the_holder_or_through_a_short_lease():
    url = f"fake://stage{next(_BENCHES)}"
    FakeArcus(url).set_position("Y", 321)
    assert read_position_steps(url, "Y", opener=FakeArcus) == 321  # no holder: opened, read, closed
    stage = ArcusStage.open(url, opener=FakeArcus)
    controller = stage.release_link()
    stage.restore_link(controller)
    controller.set_position("Y", 400)
    assert read_position_steps(url, "Y", opener=FakeArcus) == 400 and not stage.is_lent
    stage.close()
