"""The simulated encoder and the engine's lost-step check, through _engine and aefi-arcus-sim's flags."""
from __future__ import annotations

import time

import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.cli.arcus_sim import build_parser, simulator_options


def test_encoder_flags_become_simulator_options() -> None:
    args = build_parser().parse_args(["--pty", "--encoder-ppr", "x=2048:3200", "--encoder", "Y=0"])
    options = simulator_options(args)
    assert ("encoder_ppr", "X=2048:3200") in options
    assert ("encoder", "Y=0") in options


def _controller(url: str) -> _engine.ArcusController:
    ctrl = _engine.ArcusController(url)
    for cmd in ("HS=1500", "LS=10", "ACC=100", "DEC=100"):
        assert ctrl.query(cmd) == "OK"
    return ctrl


def test_encoder_reads_quadrature_counts_and_a_stall_fails_the_scan_naming_the_axis() -> None:
    url = "sim://py-encoder-stall?baud=38400&encoder_ppr=X=2048:3200"
    ctrl = _controller(url)
    assert ctrl.query("X100") == "OK"
    deadline = time.monotonic() + 10
    while ctrl.query("PX") != "100" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ctrl.query("EX") == "256"
    plan = {"fast_axis": "X", "slow_axis": None, "fast_start_steps": 200, "fast_stop_steps": 3200,
            "speed_pps": 1500.0, "detector": "none", "sample_rate_hz": 100.0, "realtime": False,
            "encoder_counts_per_step": 2.56}
    ex = _engine.RustScanExecutor()
    ex.prepare(plan, arcus=ctrl)
    ex.kickoff()
    while ex.progress()["fast_steps"] < 1200 and time.monotonic() < deadline + 20:
        time.sleep(0.005)
    _engine.sim_inject_fault(url, "stall", axis="X")
    stats = ex.join(timeout_s=60)
    assert stats["status"] == "failed", stats
    assert stats["error"]["type"] == "ControllerError"
    assert stats["error"]["message"].startswith("axis X: the encoder reads")
    with pytest.raises(_engine.PlanError):
        _engine.RustScanExecutor().prepare(dict(plan, encoder_counts_per_step=-1.0), arcus=ctrl)
