"""_engine.ArcusController against the simulator: in-process sim:// (instant and wire timing),
typed errors, lending state."""
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine


def _fresh(name: str, **query: str) -> str:
    # Bench names are process-global: make each test's unique.
    q = "&".join(f"{k}={v}" for k, v in {"timing": "none", **query}.items())
    return f"sim://{name}-{time.monotonic_ns()}?{q}"


def test_identity_positions_and_status():
    with _engine.ArcusController(_fresh("ident")) as ctrl:
        assert ctrl.is_open and not ctrl.is_lent and ctrl.borrower is None
        assert ctrl.query("VER") == "V180BL"
        assert ctrl.query("DN") == "4EX00"
        assert ctrl.positions() == {"X": 0, "Y": 0, "Z": 0, "U": 0}
        st = ctrl.status("X")
        assert st["raw"] == 0 and st["moving"] is False and st["plus_limit_error"] is False
        assert ctrl.speeds("x") == {"high_speed_pps": 1000, "low_speed_pps": 100, "accel_ms": 300, "decel_ms": 300}
    assert not ctrl.is_open


def test_move_reaches_target_and_truth_agrees():
    url = _fresh("move")
    ctrl = _engine.ArcusController(url)
    ctrl.set_speeds("X", high_speed_pps=50_000, low_speed_pps=1000, accel_ms=10, decel_ms=10)
    assert ctrl.speeds("X")["high_speed_pps"] == 50_000
    ctrl.move_abs("X", 100_000)  # ~2 s: still moving at the next queries, even on a loaded machine
    assert ctrl.is_moving("X") and ctrl.is_moving() and not ctrl.is_moving("Y")
    ctrl.wait_idle("X", timeout_s=20)
    assert ctrl.position("X") == 100_000
    ctrl.move_rel("X", -500)
    ctrl.wait_idle(timeout_s=10)
    assert ctrl.position("X") == 99_500
    now = np.array([time.monotonic_ns()], dtype=np.int64)
    assert _engine.sim_truth(url, "X", now)[0] == pytest.approx(99_500)
    strided = np.repeat(now, 4)[::2]  # not contiguous
    assert list(_engine.sim_truth(url, "X", strided)) == pytest.approx([99_500, 99_500])
    ctrl.set_position("X", 0)
    assert ctrl.position("X") == 0
    ctrl.close()


def test_jog_stop_abort_home():
    url = _fresh("jog", home="Y=-300")
    ctrl = _engine.ArcusController(url)
    ctrl.set_speeds("Y", high_speed_pps=20_000, low_speed_pps=500, accel_ms=20, decel_ms=20)
    ctrl.jog("Y", positive=True)
    time.sleep(0.05)
    assert ctrl.status("Y")["moving"]
    ctrl.stop("Y")
    ctrl.wait_idle("Y", timeout_s=5)
    ctrl.abort()
    ctrl.home("Y", positive=False, mode=4)
    ctrl.wait_idle("Y", timeout_s=10)
    assert ctrl.position("Y") == 0
    assert ctrl.status("Y")["home_input"]


def test_controller_errors_are_typed_with_code():
    ctrl = _engine.ArcusController(_fresh("errors", limit="X=-100:5000"))
    with pytest.raises(_engine.ControllerError) as e:
        ctrl.query("ID")
    assert e.value.code == "ID"
    # ~0.6 s to the + limit: long enough to be refused while pulsing, even on a loaded machine.
    ctrl.set_speeds("X", high_speed_pps=10_000, low_speed_pps=100, accel_ms=100, decel_ms=100)
    ctrl.move_abs("X", 9000)
    with pytest.raises(_engine.ControllerError) as e:
        ctrl.move_abs("X", 0)  # still pulsing
    assert e.value.code == "PULSING"
    ctrl.wait_idle("X", timeout_s=10)
    assert ctrl.position("X") == 5000
    assert ctrl.status("X")["plus_limit_error"]
    with pytest.raises(_engine.ControllerError) as e:
        ctrl.move_abs("X", 0)
    assert e.value.code == "LIMIT"
    ctrl.clear("X")
    ctrl.move_abs("X", 0)
    ctrl.wait_idle("X", timeout_s=5)
    assert ctrl.position("X") == 0


def test_bad_input_refused_before_sending():
    ctrl = _engine.ArcusController(_fresh("badin"))
    with pytest.raises(ValueError, match="axis"):
        ctrl.position("W")
    with pytest.raises(ValueError, match="high_speed_pps"):
        ctrl.set_speeds("X", high_speed_pps=0)
    with pytest.raises(ValueError, match="mode"):
        ctrl.home("X", mode=9)
    with pytest.raises(ValueError, match="timeout_s"):
        _engine.ArcusController(_fresh("badin2"), timeout_s=-1)
    with pytest.raises(ValueError, match="unknown scheme"):
        _engine.ArcusController("ftp://nowhere")
    with pytest.raises(ValueError, match="unknown simulator option"):
        _engine.ArcusController(_fresh("badin3", colour="red"))


def test_missing_serial_port_lists_available():
    with pytest.raises(_engine.PortNotFoundError, match="/dev/no-such-arcus"):
        _engine.ArcusController("serial:///dev/no-such-arcus")


def test_wait_idle_times_out_with_timeouterror():
    ctrl = _engine.ArcusController(_fresh("waitto"))
    ctrl.jog("X")
    with pytest.raises(TimeoutError):
        ctrl.wait_idle("X", timeout_s=0.05)
    ctrl.abort()


def test_faults_become_link_errors():
    url = _fresh("faults")
    ctrl = _engine.ArcusController(url, timeout_s=0.05)
    _engine.sim_inject_fault(url, "drop")
    with pytest.raises(_engine.LinkTimeoutError):
        ctrl.position("X")
    assert ctrl.position("X") == 0
    _engine.sim_inject_fault(url, "garble")
    with pytest.raises(_engine.ProtocolError):
        ctrl.position("X")
    _engine.sim_inject_fault(url, "disconnect")
    with pytest.raises(_engine.LinkError):
        ctrl.position("X")
    _engine.sim_inject_fault(url, "reconnect")
    assert ctrl.position("X") == 0
    with pytest.raises(ValueError, match="unknown fault"):
        _engine.sim_inject_fault(url, "meteor")
    with pytest.raises(ValueError, match="axis"):
        _engine.sim_inject_fault(url, "stall")
    with pytest.raises(_engine.PortNotFoundError):
        _engine.sim_inject_fault("sim://never-opened-bench", "drop")


def test_wire_timing_delays_replies_as_the_wire_would():
    # 9600 baud: @00PX\r (6 B) + 0\r (2 B) = 8 bytes → 8.33 ms, plus the 0.2 ms turnaround.
    ctrl = _engine.ArcusController(_fresh("wire", timing="wire", baud="9600"))
    assert ctrl.wire_limit_hz() == pytest.approx(80.0)
    t0 = time.monotonic_ns()
    for _ in range(5):
        ctrl.position("X")
    per_query_ms = (time.monotonic_ns() - t0) / 5 / 1e6
    assert per_query_ms >= 8.3
    fast = _engine.ArcusController(_fresh("wire115", timing="wire", baud="115200"))
    assert fast.wire_limit_hz() == pytest.approx(960.0)


def test_two_links_share_one_bench_and_truth_log():
    url = _fresh("shared")
    a = _engine.ArcusController(url)
    b = _engine.ArcusController(url.split("?")[0] + "?timing=none")
    a.move_abs("Z", 321)
    b.wait_idle("Z", timeout_s=10)
    assert b.position("Z") == 321
    log = _engine.sim_truth_log(url)
    assert '"axes"' in log and '"pieces"' in log


def _start_cli(*args: str) -> tuple[subprocess.Popen, str]:
    cli = Path(sys.executable).parent / "aefi-arcus-sim"
    proc = subprocess.Popen([str(cli), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    if not box or not box[0]:
        proc.kill()
        raise AssertionError(f"aefi-arcus-sim printed nothing: {proc.stderr.read()}")
    return proc, box[0].strip()


def test_tcp_through_the_cli_with_truth_log(tmp_path):
    log = tmp_path / "truth.json"
    proc, url = _start_cli("--tcp", "127.0.0.1:0", "--no-delay", "--limit", "Y=-50:", "--truth-log", str(log))
    try:
        assert url.startswith("tcp://127.0.0.1:")
        ctrl = _engine.ArcusController(url)
        assert ctrl.query("VER") == "V180BL"
        ctrl.move_abs("Y", -400)
        ctrl.wait_idle("Y", timeout_s=10)
        assert ctrl.position("Y") == -50
        assert ctrl.status("Y")["minus_limit_error"]
        with pytest.raises(_engine.ControllerError) as e:
            ctrl.move_abs("Y", 0)
        assert e.value.code == "LIMIT"
        ctrl.close()
        text = log.read_text()
        last_y = json.loads(text)["axes"][1]["pieces"][-1]
        assert last_y["x0"] == -50.0 and last_y["v0"] == 0.0
        now = np.array([time.monotonic_ns()], dtype=np.int64)
        assert _engine.sim_truth_from_log(text, "Y", now)[0] == -50.0
        with pytest.raises(ValueError, match="log_json"):
            _engine.sim_truth_from_log("{}", "Y", now)
    finally:
        proc.send_signal(signal.SIGTERM)
        with proc:  # closes the pipes
            assert proc.wait(10) == 0


def test_cli_refuses_bad_options_and_documents_choices():
    cli = Path(sys.executable).parent / "aefi-arcus-sim"
    out = subprocess.run([str(cli), "--help"], capture_output=True, text=True, check=True).stdout
    for topic, _choice in _engine.ARCUS_SIM_CHOICES:
        assert topic in out
    bad = subprocess.run([str(cli), "--pty", "--limit", "X=5:1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "below" in bad.stderr
    bad = subprocess.run([str(cli), "--pty", "--home", "Q=1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "AXIS=VALUE" in bad.stderr


def test_lending_state_is_visible():
    ctrl = _engine.ArcusController(_fresh("lend"))
    assert not ctrl.is_lent and ctrl.borrower is None
    assert "open" in repr(ctrl)
    ctrl.close()
    assert "closed" in repr(ctrl)
    with pytest.raises(_engine.LinkError, match="closed"):
        ctrl.position("X")


def test_lent_link_refuses_with_the_borrower_named():
    url = _fresh("lent")
    ctrl = _engine.ArcusController(url)
    ex = _engine.RustScanExecutor()
    ex.start({"fast_axis": "X", "slow_axis": None, "fast_start_steps": 0, "fast_stop_steps": 20_000,
              "speed_pps": 800.0, "detector": "none", "trigger": "software", "sample_rate_hz": 100.0,
              "realtime": False}, ctrl)
    try:
        assert ctrl.is_lent and ctrl.borrower
        with pytest.raises(_engine.PortBusyError, match=f"lent to {ctrl.borrower}"):
            ctrl.position("X")
        with pytest.raises(_engine.PortBusyError):
            ctrl.close()
    finally:
        ex.abort()
        ex.join(timeout_s=30)
    assert not ctrl.is_lent and ctrl.borrower is None
    assert not ctrl.is_moving("X")
