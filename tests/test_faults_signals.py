"""`aefi-flyscan` stopped by a signal over a real serial link (the simulator on a PTY): STOP on the
wire within 20 ms of the signal at 38400 baud (the simulator's ground truth, on the same monotonic
clock), exit 128 + the signal, file `aborted` and partial, the port free again at once."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from pymodaq_plugins_aefi.adapters.h5_repository import load_results

SIM = Path(sys.executable).parent / "aefi-arcus-sim"


def _readline(proc, timeout_s=60.0):
    box = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    assert box and box[0], proc.stderr.read() if proc.poll() is not None else "no line"
    return box[0].strip()


@pytest.mark.slow
@pytest.mark.parametrize("signum, baud, budget_ms", [(signal.SIGTERM, 38400, 20.0), (signal.SIGHUP, 38400, 20.0),
                                                     (signal.SIGINT, 9600, 40.0)])
def test_a_signal_stops_the_motors_in_time_and_frees_the_port(tmp_path, signum, baud, budget_ms):
    truth = tmp_path / "truth.json"
    sim = subprocess.Popen([str(SIM), "--pty", "--baud", str(baud), "--truth-log", str(truth)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pty = _readline(sim)
        cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(tmp_path / "out"),
               "--no-progress", "--port", f"serial://{pty}?baud={baud}", "--lines", "2"]
        scan = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
        while "flying" not in _readline(scan):
            pass
        time.sleep(2.5)  # mid-line, at constant speed
        t_signal_ns = time.monotonic_ns()
        scan.send_signal(signum)
        stdout, stderr = scan.communicate(timeout=60)
        assert scan.returncode == 128 + signum, stderr
        assert "Traceback" not in stderr and "aborted" in stdout
        # the port is free the moment the process is gone: an exclusive open succeeds
        with serial.Serial(pty, baud, timeout=0.5, exclusive=True):
            pass
    finally:
        sim.send_signal(signal.SIGINT)
        sim.communicate(timeout=30)
    results = load_results(tmp_path / "out" / "scan.h5")
    assert results.status.value == "aborted" and results.partial
    assert results.samples == results.stats["samples"]
    pieces = json.loads(truth.read_text())["axes"][0]["pieces"]
    changed_ns = min(p["t0_ns"] for p in pieces if p["t0_ns"] > t_signal_ns)
    latency_ms = (changed_ns - t_signal_ns) * 1e-6
    print(f"signal {signal.Signals(signum).name} at {baud} baud: STOP reached the controller {latency_ms:.1f} ms "
          f"after the signal (engine: STOP sent {results.stats['abort_latency_ms']:.1f} ms after the request)")
    assert 0 < latency_ms < budget_ms
