"""Abort mid-line: STOP on the wire within 20 ms of the request at 38400 baud and faster (at 9600
the wire time of the transaction in flight comes on top), from the simulator's ground truth (the
instant the fast axis' motion changes), every sample acquired saved."""
import json
import threading
import time

import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.cli.flyscan import DEFAULTS
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.events import FlyScanProgress

ONE_LINE = dict(DEFAULTS, lines=1, slow_start_mm=30.0, slow_stop_mm=30.0, detector="virtual_probe")


def stop_on_the_wire_ms(url: str, t_request_ns: int) -> float:
    """When the fast axis (X) left its constant-speed flight after `t_request_ns`, from the truth log."""
    log = json.loads(_engine.sim_truth_log(url))
    pieces = log["axes"][0]["pieces"]
    changed = min(p["t0_ns"] for p in pieces if p["t0_ns"] > t_request_ns)
    return (changed - t_request_ns) * 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("baud, budget_ms", [(115200, 20.0), (38400, 20.0), (9600, 40.0)])
def test_stop_reaches_the_controller_in_time(tmp_path, baud, budget_ms):
    url = f"sim://abort-latency-{baud}?baud={baud}&timing=wire"
    request = {}

    class AbortMidLine:
        def __init__(self):
            self.service = None

        def on_event(self, event):
            # from another thread, as the GUI's Stop or a signal handler: the scan's thread is not involved
            if isinstance(event, FlyScanProgress) and event.state == "flying" and event.samples > 500 and not request:
                request["t"] = 0
                threading.Timer(0.01, self.fire).start()

        def fire(self):
            request["t"] = time.monotonic_ns()
            self.service.abort()

    stopper = AbortMidLine()
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[stopper])
    stopper.service = app.service
    results = app.service.run_study(FlyScanConfig(**ONE_LINE)).results
    assert results.status.value == "aborted"
    latency_ms = stop_on_the_wire_ms(url, request["t"])
    print(f"baud {baud}: STOP reached the controller {latency_ms:.1f} ms after the request "
          f"(engine: STOP sent {results.stats['abort_latency_ms']:.1f} ms after); "
          f"{results.samples} of {results.stats['samples']} samples saved")
    assert 0 < latency_ms < budget_ms
    assert results.samples == results.stats["samples"] and results.lines[0].partial
