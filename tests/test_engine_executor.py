"""RustScanExecutor through `_engine` on the in-process Arcus simulator: the whole life of a scan,
the four verbs one by one, plan and axis refusals before motion, abort in every state (prepare's
move to the start included), the link lease, records as numpy columns."""
import gc
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine

FLAG_ESTIMATED, FLAG_FIRST, FLAG_LAST = 2, 8, 16


def fast_sim(name: str) -> _engine.ArcusController:
    ctrl = _engine.ArcusController(f"sim://{name}?timing=none")
    ctrl.query("HS=20000")
    ctrl.set_speeds("X", accel_ms=20, decel_ms=20)
    ctrl.set_speeds("Y", accel_ms=20, decel_ms=20)
    return ctrl


def plan(**overrides):
    p = {
        "fast_axis": "X", "slow_axis": "Y", "fast_start_steps": 0, "fast_stop_steps": 2000,
        "slow_start_steps": 0, "slow_stop_steps": 100, "lines": 3, "speed_pps": 10000.0,
        "detector": "virtual_probe", "trigger": "software", "sample_rate_hz": 2000.0,
        # SCHED_FIFO where permitted: a loaded machine must not starve the trigger thread for a
        # whole line (a software trigger that does not run takes no sample)
        "realtime": True,
    }
    p.update(overrides)
    return p


def test_scan_runs_to_completion_and_returns_the_link():
    ctrl = fast_sim("exec-complete")
    ex = _engine.RustScanExecutor()
    ex.start(plan(), ctrl)
    assert ctrl.is_lent and ctrl.borrower == "flyscan"
    with pytest.raises(_engine.PortBusyError):
        ctrl.positions()
    chunks = []
    states = set()
    deadline = time.monotonic() + 30
    # An end state in progress() means every record is in the ring: no join needed to see it.
    while (state := ex.progress()["state"]) not in ("completed", "aborted", "failed"):
        assert time.monotonic() < deadline
        states.add(state)
        chunks.append(ex.drain())
        time.sleep(0.02)
    chunks.append(ex.drain())
    assert ex.drain()["seq"].size == 0
    stats = ex.join(timeout_s=30)
    assert stats["status"] == "completed" and stats["error"] is None
    assert stats["lines"] == 3
    assert not ctrl.is_lent
    assert ctrl.positions()["Y"] == 100
    cols = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    assert cols["channels"].shape == (stats["samples"], 6)
    assert cols["seq"].dtype == np.uint64 and cols["t_ns"].dtype == np.int64 and cols["flags"].dtype == np.uint32
    np.testing.assert_array_equal(cols["seq"], np.arange(stats["samples"]))
    assert np.all(cols["flags"] & FLAG_ESTIMATED)
    assert np.count_nonzero(cols["flags"] & FLAG_FIRST) == 3 and np.count_nonzero(cols["flags"] & FLAG_LAST) == 3
    assert set(np.unique(cols["slow_steps"])) == {0.0, 50.0, 100.0}
    assert np.all(cols["fast_steps"] >= -5) and np.all(cols["fast_steps"] <= 2005)
    # the virtual probe read the known field at the true position: compare with the field map
    truth_x = _engine.sim_truth("sim://exec-complete?timing=none", "X", cols["t_ns"])
    truth_y = _engine.sim_truth("sim://exec-complete?timing=none", "Y", cols["t_ns"])
    expected = _engine.field_map_volts(truth_x * 0.0218, truth_y * 0.0218)
    np.testing.assert_allclose(cols["channels"], expected, atol=1e-9)
    assert {"flying"} <= states
    assert stats["rt"]["detail"] and isinstance(stats["rt"]["fifo"], bool)
    assert [lt["line"] for lt in stats["line_times"]] == [0, 1, 2]


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"speed_pps": 50000.0}, "speed_pps"),
        ({"fast_stop_steps": 0}, "fast_stop_steps"),
        ({"lines": 0}, "lines"),
        ({"pattern": "zigzag"}, "pattern"),
        ({"travel_min_steps": -10, "travel_max_steps": 100000}, "fast_start_steps"),
        ({"sample_rate_hz": "fast"}, "sample_rate_hz"),
        ({"colour": "red"}, "colour"),
        ({"fast_axis": "W"}, "fast_axis"),
    ],
)
def test_bad_plan_is_refused_before_any_motion(overrides, field):
    ctrl = fast_sim("exec-refuse")
    before = ctrl.positions()
    ex = _engine.RustScanExecutor()
    with pytest.raises(_engine.PlanError) as info:
        ex.start(plan(**overrides), ctrl)
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert not ctrl.is_lent
    assert not ctrl.is_moving()
    assert ctrl.positions() == before


def test_abort_ends_the_scan_and_keeps_the_records():
    ctrl = fast_sim("exec-abort")
    ex = _engine.RustScanExecutor()
    ex.start(plan(speed_pps=2000.0, fast_stop_steps=20000, lines=1, slow_axis=None), ctrl)
    deadline = time.monotonic() + 10
    while ex.progress()["samples"] < 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    ex.abort()
    stats = ex.join(timeout_s=10)
    assert stats["status"] == "aborted"
    assert stats["abort_latency_ms"] is not None and stats["abort_latency_ms"] >= 0
    assert not ctrl.is_lent and not ctrl.is_moving()
    assert len(ex.drain()["seq"]) >= 50


def test_join_timeout_aborts_a_running_scan():
    ctrl = fast_sim("exec-join-timeout")
    ex = _engine.RustScanExecutor()
    ex.start(plan(speed_pps=1000.0, fast_stop_steps=50000, lines=1, slow_axis=None), ctrl)
    stats = ex.join(timeout_s=0.3)
    assert stats["status"] == "aborted"
    assert not ctrl.is_lent


def test_a_python_exception_never_leaves_the_scan_running_or_the_port_held():
    ctrl = fast_sim("exec-exception")

    def run_and_fail():
        ex = _engine.RustScanExecutor()
        ex.start(plan(speed_pps=1000.0, fast_stop_steps=50000, lines=1, slow_axis=None), ctrl)
        raise RuntimeError("the caller failed mid-scan")

    with pytest.raises(RuntimeError):
        run_and_fail()
    gc.collect()
    assert not ctrl.is_lent
    assert not ctrl.is_moving()


def test_progress_is_readable_often_while_flying():
    ctrl = fast_sim("exec-progress")
    ex = _engine.RustScanExecutor()
    ex.start(plan(speed_pps=2000.0, lines=1, slow_axis=None), ctrl)
    seen = []
    t_end = time.monotonic() + 0.5
    while time.monotonic() < t_end:
        seen.append(ex.progress())
        time.sleep(0.01)
    ex.join(timeout_s=30)
    assert len(seen) >= 20
    assert any(p["state"] == "flying" for p in seen)
    assert any(np.isfinite(p["fast_steps"]) for p in seen)


def test_external_detector_samples_are_positioned():
    ctrl = fast_sim("exec-external")
    ex = _engine.RustScanExecutor()
    ex.start(plan(detector="external", trigger="continuous", lines=1, slow_axis=None, speed_pps=5000.0), ctrl)
    fed = 0
    while ex.running:
        now = _engine.now_ns()
        t = np.array([now - 1_000_000], dtype=np.int64)
        fed += ex.feed(t, np.full((1, 6), 0.25))
        time.sleep(0.002)
    stats = ex.join(timeout_s=10)
    cols = ex.drain()
    assert stats["status"] == "completed"
    assert 0 < len(cols["seq"]) <= fed
    assert np.all(cols["channels"] == 0.25)
    assert np.all((cols["fast_steps"] >= -5) & (cols["fast_steps"] <= 2005))


def test_executor_refuses_use_before_prepare_and_a_foreign_controller():
    ex = _engine.RustScanExecutor()
    for verb in (ex.progress, ex.kickoff, ex.complete, ex.collect, ex.join):
        with pytest.raises(_engine.ScanStateError):
            verb()
    ex.abort()  # nothing to abort: a no-op
    with pytest.raises(TypeError):
        ex.start(plan(), object())


def _truth(url, axis):
    return float(_engine.sim_truth(url, axis, np.array([_engine.now_ns()], dtype=np.int64))[0])


def test_the_four_verbs_and_collect_in_pieces():
    url = "sim://exec-verbs?timing=none"
    ctrl = fast_sim("exec-verbs")
    ex = _engine.RustScanExecutor()
    ex.prepare(plan(lines=2), ctrl)
    status = ex.complete()
    assert status.progress()["state"] == "ready" and not status.done and ex.running
    assert ctrl.is_lent
    # at the run-up start of line 0 (before the span's start), nothing flying before kickoff
    x0 = _truth(url, "X")
    time.sleep(0.1)
    assert _truth(url, "X") == x0 < 0 and _truth(url, "Y") == 0.0
    assert ex.collect()["seq"].size == 0
    ex.kickoff()
    with pytest.raises(_engine.ScanStateError):
        ex.kickoff()
    pieces = []
    while not status.wait(0.01):
        pieces.append(ex.collect(max_records=40))
    pieces.append(ex.collect())
    stats = status.stats()
    assert stats["status"] == "completed" and stats["lines"] == 2
    seq = np.concatenate([p["seq"] for p in pieces])
    np.testing.assert_array_equal(seq, np.arange(stats["samples"]))
    assert sum(1 for p in pieces if p["seq"].size) > 3
    assert max(p["seq"].size for p in pieces) <= max(40, pieces[-1]["seq"].size)
    assert 0.5 < stats["efficiency"] <= 1.01 and stats["physical_min_s"] > 0
    assert stats["overhead_per_line_ms"] == pytest.approx((stats["wall_time_s"] - stats["physical_min_s"]) / 2 * 1e3)
    assert 0 < stats["prepare_s"] < stats["wall_time_s"]
    assert not ctrl.is_lent and not ex.running


def test_abort_during_prepare_stops_the_move_to_the_start():
    url = "sim://exec-abort-prepare?timing=none"
    ctrl = _engine.ArcusController(url)  # factory speeds: 1000 pulses/s
    ex = _engine.RustScanExecutor()
    aborted_at = []

    def abort_on_the_way():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if ex.progress()["state"] == "moving_to_start":
                    break
            except _engine.ScanStateError:
                pass  # not prepared yet
            time.sleep(0.005)
        time.sleep(0.1)
        aborted_at.append(_engine.now_ns())
        ex.abort()

    # prepare blocks with the GIL released: this Python thread runs meanwhile and aborts it
    aborter = threading.Thread(target=abort_on_the_way)
    aborter.start()
    with pytest.raises(_engine.ScanAbortedError):
        far = plan(fast_start_steps=40_000, fast_stop_steps=41_000, slow_axis=None, lines=1, speed_pps=900.0)
        ex.prepare(far, ctrl)
    aborter.join()
    after = np.array([aborted_at[0] + 50_000_000, aborted_at[0] + 500_000_000], dtype=np.int64)
    at = _engine.sim_truth(url, "X", after)
    assert 0 < at[0] == at[1] < 40_000, at
    stats = ex.complete().stats()
    assert stats["status"] == "aborted" and stats["lines"] == 0 and stats["samples"] == 0
    assert not ctrl.is_lent and not ctrl.is_moving()


def test_a_latched_limit_refuses_prepare_naming_the_axis():
    url = "sim://exec-latched?timing=none"
    ctrl = fast_sim("exec-latched")
    _engine.sim_inject_fault(url, "limit", axis="Y", position_steps=-500)
    ctrl.move_abs("Y", -1000)
    ctrl.wait_idle("Y", timeout_s=5)
    assert ctrl.status("Y")["minus_limit_error"]
    before = ctrl.positions()
    ex = _engine.RustScanExecutor()
    with pytest.raises(_engine.ControllerError) as info:
        ex.prepare(plan(), ctrl)
    assert info.value.axis == "Y" and info.value.code == "LIMIT"
    assert "axis Y" in str(info.value) and "- limit error latched" in str(info.value)
    assert ctrl.positions() == before and not ctrl.is_lent
    assert ex.complete().stats()["error"]["type"] == "ControllerError"
    ctrl.clear("Y")
    ex.prepare(plan(slow_start_steps=-400, slow_stop_steps=0), ctrl)  # cleared: accepted
    ex.abort()
    assert ex.complete().stats()["status"] == "aborted"


def test_trigger_benchmark_reports_lateness_and_rt():
    stats = _engine.trigger_benchmark(1000.0, 0.05, realtime=False)
    assert stats["ticks"] >= 50
    assert stats["trigger_lateness_us"]["count"] + stats["missed_triggers"] == stats["ticks"]
    assert stats["rt"]["fifo"] is False
    with pytest.raises(ValueError):
        _engine.trigger_benchmark(0.0, 1.0)


def test_trigger_benchmark_samples_the_simulated_board_and_reports_the_memory_set_up():
    stats = _engine.trigger_benchmark(1000.0, 0.3, realtime=False, detector="board")
    assert stats["detector"] == "board" and stats["motion_commands"] > 0
    # the board answers in ~11.5 ms at one average: tens of samples, every tick still paced
    assert 5 <= stats["samples"] < stats["ticks"]
    assert stats["trigger_lateness_us"]["count"] + stats["missed_triggers"] == stats["ticks"]
    assert stats["rt"]["mlocked"] is False and stats["rt"]["prefaulted_bytes"] > 0
    with pytest.raises(ValueError):
        _engine.trigger_benchmark(1000.0, 0.1, detector="probe")


@pytest.mark.parametrize(
    "fault, params, error_type",
    [
        ("limit", {"axis": "X", "position_steps": 6000}, "ControllerError"),
        ("disconnect", {}, "LinkError"),
    ],
)
def test_a_fault_mid_line_fails_the_scan_and_keeps_what_was_acquired(fault, params, error_type):
    url = f"sim://exec-fault-{fault}?timing=none"
    ctrl = _engine.ArcusController(url, timeout_s=0.2)
    ctrl.query("HS=20000")
    ctrl.set_speeds("X", accel_ms=20, decel_ms=20)
    ex = _engine.RustScanExecutor()
    ex.start(plan(speed_pps=4000.0, fast_stop_steps=12000, lines=1, slow_axis=None), ctrl)
    deadline = time.monotonic() + 10
    while ex.progress()["fast_steps"] != ex.progress()["fast_steps"] or ex.progress()["fast_steps"] < 2000:
        assert time.monotonic() < deadline, ex.progress()
        time.sleep(0.005)
    _engine.sim_inject_fault(url, fault, **params)
    stats = ex.join(timeout_s=10)
    assert stats["status"] == "failed", stats
    assert stats["error"]["type"] == error_type, stats["error"]
    assert stats["samples"] > 0 and len(ex.drain()["seq"]) == stats["samples"]
    assert not ctrl.is_lent
    if fault == "disconnect":
        _engine.sim_inject_fault(url, "reconnect")


def test_dropping_a_running_executor_stops_the_scan_with_the_gil_released():
    url = "sim://exec-drop-gil?timing=none"
    ctrl = fast_sim("exec-drop-gil")
    ex = _engine.RustScanExecutor()
    ex.start(plan(speed_pps=1000.0, fast_stop_steps=50000, lines=1, slow_axis=None), ctrl)
    # every reply from now on takes 150 ms: the drop waits for the poll in flight, then for ABORT
    _engine.sim_inject_fault(url, "delay", delay_ms=150.0, count=100)
    ticks, stop = [], threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    ticker = threading.Thread(target=tick)
    ticker.start()
    time.sleep(0.05)
    t_drop = time.monotonic()
    del ex
    gc.collect()
    t_dropped = time.monotonic()
    stop.set()
    ticker.join()
    assert t_dropped - t_drop > 0.15, "the drop waited for the scan's end"
    # another Python thread ran while the drop waited: the GIL was released
    assert sum(1 for t in ticks if t_drop < t < t_dropped) > 10
    assert not ctrl.is_lent
    _engine.sim_inject_fault(url, "delay", delay_ms=0.0, count=1)
    at = _engine.sim_truth(url, "X", np.array([_engine.now_ns(), _engine.now_ns() + 200_000_000], dtype=np.int64))
    assert at[0] == at[1], "the axis stopped"
