"""performax:// from Python: `_engine` loads the fake PerformaxCom library exactly as it loads the vendor's
PerformaxCom.dll (libloading, the seven entry points, one SendRecv per command), so the Python API, the
engine and `aefi-flyscan` run over the DLL transport's real code path; the fake answers through the Arcus
simulator's USB framing."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from performax_fake import fake_library, url
from pymodaq_plugins_aefi import _engine


def test_the_python_api_over_the_dll():
    devices = _engine.performax_devices(str(fake_library()))
    assert [d["url"] for d in devices] == [f"performax://4ex0{i}" for i in range(4)]
    assert {d["description"] for d in devices} == {"Performax USB"}
    with _engine.ArcusController(url("0"), timeout_s=1.0) as c:
        assert (c.query("VER"), c.query("DN")) == ("V180BL", "4EX00")
        reply, t_send, t_recv = c.query_timed("PX")
        assert int(reply) == c.position("X") and t_recv - t_send > 0
        # one SendRecv per command, answered on the USB model: never faster than two frames + turnaround
        assert t_recv - t_send >= _engine.usb_round_trip_model_ns(200_000)
        assert c.round_trip_model_ns("PX", reply) == _engine.usb_round_trip_model_ns(0)
        assert c.wire_limit_hz() is None
        start = c.position("Z")
        c.set_speeds("Z", high_speed_pps=20_000, low_speed_pps=100, accel_ms=50, decel_ms=50)
        c.move_abs("Z", start + 2500)
        c.wait_idle("Z", timeout_s=10)
        assert c.position("Z") == start + 2500
        with pytest.raises(_engine.ControllerError) as e:
            c.query("ID")
        assert e.value.code == "ID"
        # one opener per device, as with the vendor's driver
        with pytest.raises(_engine.PortBusyError, match="performax://4ex00"):
            _engine.ArcusController(url("4ex00"))
    # closed on exit: it opens again
    with _engine.ArcusController(url("4ex00")) as c:
        assert c.query("DN") == "4EX00"


def test_dll_errors_are_typed_and_say_what_to_do(tmp_path):
    with pytest.raises(_engine.PortNotFoundError, match=r"performax://4ex00, performax://4ex01"):
        _engine.ArcusController(url("9"))
    with pytest.raises(_engine.UsbUnavailableError, match="no such file"):
        _engine.ArcusController(f"performax://0?dll={tmp_path / 'missing.dll'}")
    # a 32-bit PerformaxCom.dll (its PE header says i386) is refused by name before it is loaded
    pe32 = bytearray(0x100)
    pe32[:2], pe32[0x3C:0x40] = b"MZ", (0x80).to_bytes(4, "little")
    pe32[0x80:0x84], pe32[0x84:0x86] = b"PE\0\0", (0x14C).to_bytes(2, "little")
    (tmp_path / "PerformaxCom.dll").write_bytes(bytes(pe32))
    with pytest.raises(_engine.UsbUnavailableError, match="this PerformaxCom.dll is 32-bit"):
        _engine.ArcusController(f"performax://0?dll={tmp_path / 'PerformaxCom.dll'}")
    with pytest.raises(ValueError, match="unknown option"):
        _engine.ArcusController("performax://0?baud=9600&x=1")


def _not_json(constant: str) -> None:
    raise AssertionError(f"stats.json holds {constant}, which JSON has not")


@pytest.mark.slow
def test_a_flyscan_over_the_dll_matches_the_simulator_truth(tmp_path):
    from pymodaq_plugins_aefi.adapters.h5_repository import load_results

    truth_log = tmp_path / "truth.json"
    env = {**os.environ, "AEFI_FAKE_PERFORMAX_OPTIONS": f"truth_log={truth_log}&turnaround_us=200"}
    cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(tmp_path), "--port", url("0"),
           "--lines", "3", "--points-per-line", "31", "--fast-start-mm", "20", "--fast-stop-mm", "50",
           "--slow-start-mm", "25", "--slow-stop-mm", "45", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    stats = json.loads((tmp_path / "stats.json").read_text(), parse_constant=_not_json)
    assert stats["status"] == "completed" and stats["lines"] == 3 and stats["dropped_records"] == 0
    assert stats["poll_rate_hz"] > 0 and stats["wire_limit_hz"] is None  # USB: no wire time, so no limit
    assert "no wire limit" in done.stdout

    results = load_results(tmp_path / "scan.h5")
    raw = results.raw
    assert len(raw) > 100
    step_mm = results.config.scale.step_mm
    # every sample's position, as the engine placed it from the polls over the DLL, against where the
    # fake's simulated motor really was at that instant (its truth log, written by the fake itself)
    truth = np.asarray(_engine.sim_truth_from_log(truth_log.read_text(), "X", np.ascontiguousarray(raw.t_ns)))
    error_steps = np.abs(raw.fast_mm / step_mm - truth)
    assert np.percentile(error_steps, 99) < 2.0, np.percentile(error_steps, [50, 99, 100])
    slow_truth = np.asarray(_engine.sim_truth_from_log(truth_log.read_text(), "Y", np.ascontiguousarray(raw.t_ns)))
    assert np.max(np.abs(raw.slow_mm / step_mm - slow_truth)) < 1.0
