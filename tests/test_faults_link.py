"""Fault matrix, link side: garbled and dropped replies to the position polls are asked again and
counted (`link_retries`), the scan goes on and its positions stay right; a link that stays silent
ends the scan `failed` naming the port, every sample acquired saved."""
import re
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.h5_repository import load_results
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.cli.flyscan import DEFAULTS, position_errors_steps
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.events import FlyScanProgress

ONE_LINE = dict(DEFAULTS, lines=1, slow_start_mm=30.0, slow_stop_mm=30.0, detector="virtual_probe")


class InjectWhenFlying:
    """Injects `faults` into the simulator once, mid-line."""

    def __init__(self, url, faults):
        self.url, self.faults, self.done = url, faults, threading.Event()

    def on_event(self, event):
        if type(event).__name__ in ("FlyScanFailed", "FlyScanCompleted", "FlyScanAborted"):
            self.ended_ns = time.monotonic_ns()
        if isinstance(event, FlyScanProgress) and event.state == "flying" and event.samples > 800 \
                and not self.done.is_set():
            self.done.set()
            self.t_ns = time.monotonic_ns()
            for kind, params in self.faults:
                _engine.sim_inject_fault(self.url, kind, **params)


@pytest.mark.parametrize("kind", ["garble", "drop"])
def test_bad_replies_to_polls_are_retried_and_counted(tmp_path, kind):
    url = f"sim://link-{kind}?baud=38400&timing=wire"
    injector = InjectWhenFlying(url, [(kind, {"count": 2})])
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[injector])
    results = app.service.run_study(FlyScanConfig(**ONE_LINE)).results
    assert injector.done.is_set()
    assert results.status.value == "completed", results.error
    assert results.stats["link_retries"] == 2
    # no wrong value became a position: every sample within a step of the simulator's truth
    assert np.percentile(position_errors_steps(results, url), 99) < 2.0
    assert load_results(tmp_path / "scan.h5").samples == results.samples == results.stats["samples"]


@pytest.mark.parametrize("name, fault", [("dead", ("disconnect", {})),
                                         ("late", ("delay", {"delay_ms": 3000.0, "count": 20}))])
def test_a_link_that_goes_silent_fails_the_scan_naming_the_port(tmp_path, name, fault):
    url = f"sim://link-{name}?baud=38400&timing=wire"
    injector = InjectWhenFlying(url, [fault])
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[injector])
    outcome = app.service.run_study(FlyScanConfig(**ONE_LINE))
    results = outcome.results
    assert results.status.value == "failed"
    assert f"sim://link-{name}" in results.error, results.error
    assert re.search(r"the controller may still be moving axis X to 7\d\.\d{3} mm \(last seen at \d+\.\d{3} mm\)",
                     results.error), results.error
    react_s = (injector.ended_ns - injector.t_ns) * 1e-9
    print(f"link {name} mid-line: scan failed {react_s * 1e3:.0f} ms later; {results.samples} of "
          f"{results.stats['samples']} samples saved")
    assert react_s < 1.5  # one query deadline, the best-effort STOP's own timeout, the line's tail
    # the link reports itself lost (no point asking again); the retries are for replies, not for a dead link
    assert results.samples == results.stats["samples"] > 0 and results.lines[0].partial
    assert load_results(outcome.location).samples == results.samples


def test_a_position_farther_than_the_axis_can_move_is_read_again_never_fitted(tmp_path):
    """Line noise that still parses (a PX reply that lost its first digit): the engine sees the jump
    is more than speed x elapsed time allows, reads the position again and counts it."""
    url = "sim://link-corrupt?baud=38400&timing=wire"
    injector = InjectWhenFlying(url, [("corrupt", {"count": 2})])
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[injector])
    results = app.service.run_study(FlyScanConfig(**ONE_LINE)).results
    assert injector.done.is_set()
    assert results.status.value == "completed", results.error
    assert results.stats["implausible_positions"] == 2
    assert results.stats["link_retries"] == 2
    # a corrupted reading is thousands of steps off: had one been fitted, samples would be far off
    errors = np.abs(position_errors_steps(results, url))
    assert np.percentile(errors, 99) < 2.0 and errors.max() < 10.0
    assert load_results(tmp_path / "scan.h5").samples == results.samples == results.stats["samples"]


def test_positions_that_stay_impossible_fail_the_scan_as_a_link_fault(tmp_path):
    url = "sim://link-corrupt-all?baud=38400&timing=wire"
    injector = InjectWhenFlying(url, [("corrupt", {"count": 1_000_000})])
    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[injector])
    outcome = app.service.run_study(FlyScanConfig(**ONE_LINE))
    results = outcome.results
    assert results.status.value == "failed"
    assert re.search(r"axis X: position read -?\d+ steps, \d+ steps from the \d+ read [\d.]+ ms before, farther than "
                     r"the axis can move at \d+ pulses/s", results.error), results.error
    assert "read 3 times, never plausible: the link corrupts replies" in results.error
    assert "the controller may still be moving axis X" in results.error
    assert results.stats["implausible_positions"] == 3
    assert results.samples == results.stats["samples"] > 0 and results.lines[0].partial
    assert load_results(outcome.location).samples == results.samples
