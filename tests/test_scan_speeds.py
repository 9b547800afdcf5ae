"""A scan runs its axes at the bench's profile (the configuration's) and puts the previous speeds back
on every ending; a speed above the mechanical limit is refused before anything moves."""
import json

import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.rust_scan_adapter import RustScanAdapter
from pymodaq_plugins_aefi.application.study_service import StudyService
from pymodaq_plugins_aefi.bootstrap import bench_speeds
from pymodaq_plugins_aefi.cli import flyscan
from pymodaq_plugins_aefi.domain import FlyScan, FlyScanConfig, FlyScanLineCorrelated, InvalidScanConfig, ScanStatus
from pymodaq_plugins_aefi.domain.speeds import BenchSpeeds, SpeedProfile
from pymodaq_plugins_aefi.testing.fakes import RecordingObserver

BENCH = BenchSpeeds(SpeedProfile(1500, 10, 300, 300), 3000.0)
#: The simulator's factory speeds (the controller's power-up values) of every axis.
FACTORY = {"high_speed_pps": 1000, "low_speed_pps": 100, "accel_ms": 300, "decel_ms": 300}
SMALL = dict(fast_start_mm=20, fast_stop_mm=40, slow_start_mm=25, slow_stop_mm=35, points_per_line=21)


def speeds_of(url, axes=("X", "Y")):
    with _engine.ArcusController(url) as ctrl:
        return {axis: dict(ctrl.speeds(axis)) for axis in axes}


def test_the_shipped_configuration_is_the_bench_profile():
    assert bench_speeds() == BENCH


def test_the_profile_of_each_axis_and_the_limit():
    c = FlyScanConfig(lines=2, speed_mm_s=30, **SMALL)
    assert BENCH.for_scan(c) == {"X": SpeedProfile(1500, 10, 300, 300), "Y": SpeedProfile(1500, 10, 300, 300)}
    # above the bench's HS but within the drives' limit: the fast axis' HS follows the fly speed
    fast = FlyScanConfig(lines=2, speed_mm_s=50, **SMALL)
    assert BENCH.for_scan(fast)["X"].high_speed_pps == 2294 and BENCH.for_scan(fast)["Y"].high_speed_pps == 1500
    over = FlyScanConfig(lines=2, speed_mm_s=60, **SMALL)
    with pytest.raises(InvalidScanConfig, match="above the mechanical limit 2000 pulses/s") as err:
        BenchSpeeds(SpeedProfile(1500, 10, 300, 300), 2000.0).for_scan(over)
    assert err.value.field == "speed_mm_s"
    with pytest.raises(InvalidScanConfig, match="high speed 4000 pulses/s is above the mechanical limit"):
        BenchSpeeds(SpeedProfile(4000, 10, 300, 300), 3000.0).for_scan(c)


def test_cli_flies_at_the_bench_speed_on_the_default_simulator_and_restores(tmp_path, capsys):
    url = "sim://speeds-cli?baud=9600&timing=wire"  # the default simulator's link, its own bench
    before = speeds_of(url)
    assert before["X"]["high_speed_pps"] == 1000, "the controller starts at its factory HS, below 30 mm/s"
    code = flyscan.main(["--out", str(tmp_path), "--port", url, "--speed-mm-s", "30", "--lines", "2",
                         "--points-per-line", "21", "--fast-start-mm", "20", "--fast-stop-mm", "40",
                         "--slow-start-mm", "25", "--slow-stop-mm", "35", "--no-progress"])
    out = capsys.readouterr()
    assert code == 0, out.err
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["status"] == "completed" and stats["lines"] == 2
    applied = stats["axis_speeds"]["applied"]
    assert applied["X"] == applied["Y"] == {"high_speed_pps": 1500, "low_speed_pps": 10, "accel_ms": 300,
                                            "decel_ms": 300}
    assert stats["axis_speeds"]["previous"] == before and stats["axis_speeds"]["restored"] is True
    assert "previous speeds restored" in out.out
    assert speeds_of(url) == before


def test_cli_refuses_a_speed_above_the_mechanical_limit_before_any_motion(tmp_path, capsys):
    url = "sim://speeds-over?baud=9600&timing=wire"
    with _engine.ArcusController(url) as ctrl:
        positions = ctrl.positions()
    code = flyscan.main(["--out", str(tmp_path), "--port", url, "--speed-mm-s", "70", "--no-progress"])
    out = capsys.readouterr()
    assert code == flyscan.EXIT_BAD_INPUT
    assert "--speed-mm-s" in out.err and "above the mechanical limit 3000 pulses/s" in out.err
    assert "flying" not in out.out
    with _engine.ArcusController(url) as ctrl:
        assert ctrl.positions() == positions and ctrl.speeds("X") == FACTORY


class _AbortAfterFirstLine(RecordingObserver):
    def __init__(self):
        super().__init__()
        self.service = None

    def on_event(self, event):
        super().on_event(event)
        if isinstance(event, FlyScanLineCorrelated) and event.line == 0:
            self.service.abort()


def test_an_aborted_scan_restores_the_speeds(tmp_path):
    url = "sim://speeds-abort?timing=none"
    before = speeds_of(url)
    observer = _AbortAfterFirstLine()
    service = StudyService(RustScanAdapter(url, speeds=BENCH), _memory_repository(), [observer])
    observer.service = service
    outcome = service.run_study(FlyScanConfig(lines=4, speed_mm_s=30, sample_rate_hz=500, **SMALL))
    assert outcome.status is ScanStatus.ABORTED
    assert outcome.results.stats["axis_speeds"]["restored"] is True
    assert speeds_of(url) == before


def test_a_failed_scan_restores_the_speeds():
    # the fast axis' + limit switch at 30 mm, in the middle of the first line: the scan fails, the link lives
    limit_steps = round(30.0 / 0.0218)
    url = f"sim://speeds-fault?timing=none&limit_hit=X={limit_steps}"
    before = speeds_of(url)
    results = RustScanAdapter(url, speeds=BENCH).execute_scan(
        FlyScan(FlyScanConfig(lines=2, speed_mm_s=30, sample_rate_hz=500, **SMALL)), RecordingObserver())
    assert results.status is ScanStatus.FAILED and "limit" in (results.error or "")
    assert results.stats["axis_speeds"]["restored"] is True
    assert speeds_of(url) == before


def test_a_refused_plan_changes_no_speed():
    url = "sim://speeds-refused?timing=none"
    before = speeds_of(url)
    with pytest.raises(InvalidScanConfig, match="mechanical limit"):
        RustScanAdapter(url, speeds=BenchSpeeds(SpeedProfile(1500, 10, 300, 300), 1000.0)).execute_scan(
            FlyScan(FlyScanConfig(lines=2, speed_mm_s=30, sample_rate_hz=500, **SMALL)), RecordingObserver())
    assert speeds_of(url) == before


def _memory_repository():
    from pymodaq_plugins_aefi.adapters.flyscan_viewers import LastResultsRepository

    return LastResultsRepository()
