"""`aefi-flyscan` end to end in a subprocess: files, PyMoDAQ loader, map vs the known field, Ctrl-C."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

STATS_KEYS = {"lines", "samples", "wall_time_s", "poll_rate_hz", "wire_limit_hz", "trigger_lateness_us",
              "missed_triggers", "dropped_records", "position_error_steps", "map_rms_error_rel", "step_scan_estimate_s",
              "status", "physical_min_s", "efficiency", "overhead_per_line_ms", "link_retries", "rejected_samples",
              "stall_detection", "cadence", "detector_rate_hz", "detector_rate_limit_hz", "sample_interval_us",
              "smear_mm", "samples_per_cell", "encoder_error_counts", "syn", "axis_speeds", "differential",
              "implausible_positions", "detector_lag_ms", "detector_lag_uncertainty_ms", "detector_lag_source",
              "detector_lag_applied", "detector_lag_lines", "detector_lag_note", "detector_lag_true_ms",
              "map_rms_error_rel_uncompensated"}
SMALL = ["--lines", "3", "--points-per-line", "31", "--fast-start-mm", "20", "--fast-stop-mm", "50",
         "--slow-start-mm", "25", "--slow-stop-mm", "45", "--no-progress"]


def flyscan(out, *args, **popen):
    cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(out), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
                            **popen)


@pytest.mark.slow
def test_small_raster_end_to_end(tmp_path):
    # the simulator's default detector: its acquisition board, read back to back
    proc = flyscan(tmp_path, "--port", "sim://cli-e2e?baud=9600&timing=wire", *SMALL)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr
    assert "completed" in stdout and "legacy step scan" in stdout
    assert stdout.index("samples per 1 mm cell") < stdout.index("flying"), "the advice comes before the motion"
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert set(stats) == STATS_KEYS
    assert stats["cadence"] == "back_to_back"
    assert stats["trigger_lateness_us"] is None and stats["missed_triggers"] is None
    assert 40 < stats["detector_rate_hz"] <= stats["detector_rate_limit_hz"] * 1.02
    assert set(stats["sample_interval_us"]) == {"p50", "p99", "max"} and stats["samples_per_cell"]["min"] >= 1
    assert set(stats["position_error_steps"]) == {"p50", "p99"}
    assert stats["status"] == "completed" and stats["lines"] == 3 and stats["dropped_records"] == 0
    assert stats["step_scan_estimate_s"] > 93 * 0.3 and stats["wall_time_s"] > 0  # 93 points, 300 ms settle each
    assert stats["position_error_steps"]["p99"] < 2.0
    # the physical minimum is a lower bound of the wall time; the overhead is what lies between
    assert 0 < stats["physical_min_s"] <= stats["wall_time_s"]
    assert stats["efficiency"] == pytest.approx(stats["physical_min_s"] / stats["wall_time_s"])
    assert stats["overhead_per_line_ms"] == pytest.approx((stats["wall_time_s"] - stats["physical_min_s"]) / 3 * 1e3)
    assert "efficiency" in stdout and "per line" in stdout
    assert (tmp_path / "map.png").stat().st_size > 10_000

    from pymodaq_data.h5modules.data_saving import DataLoader

    from pymodaq_plugins_aefi import _engine

    with DataLoader(tmp_path / "scan.h5") as loader:
        dwa = loader.load_data("/RawData/Detector000/Data2D/CH00/Data00", load_all=True)
        assert loader.get_node("/RawData/Detector000").attrs["status"] == "completed"
    fast, slow = dwa.get_axis_from_index(1)[0].get_data(), dwa.get_axis_from_index(0)[0].get_data()
    np.testing.assert_allclose(fast, np.linspace(20, 50, 31))
    xx, yy = np.meshgrid(fast, slow)
    truth = np.asarray(_engine.field_map_volts(xx.ravel(), yy.ravel())).T.reshape(6, 3, 31)
    measured = np.stack([np.asarray(a) for a in dwa.data])
    rel = np.sqrt(np.mean((measured - truth) ** 2)) / np.ptp(truth)
    assert rel < 0.03 and stats["map_rms_error_rel"] == pytest.approx(rel, rel=1e-6)


@pytest.mark.slow
def test_ctrl_c_saves_a_partial_file_and_exits_130(tmp_path):
    proc = flyscan(tmp_path, "--port", "sim://cli-abort?baud=9600&timing=wire", "--lines", "20", "--no-progress")
    assert proc.stdout.readline().startswith("plan:"), "the advice comes first"
    assert "output:" in proc.stdout.readline()  # the output checked and sized before anything moves
    started = proc.stdout.readline()
    assert "flying" in started, proc.stderr.read() if proc.poll() is not None else started
    time.sleep(3.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "aborted" in stdout
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["status"] == "aborted" and stats["lines"] < 20

    from pymodaq_plugins_aefi.adapters.h5_repository import load_results

    results = load_results(tmp_path / "scan.h5")
    assert results.status.value == "aborted" and results.partial
    assert results.lines_done == stats["lines"]
    from pymodaq_data.h5modules.data_saving import DataLoader

    with DataLoader(tmp_path / "scan.h5") as loader:
        assert loader.get_node("/RawData/Detector000").attrs["partial"] is True
        assert loader.load_data("/RawData/Detector000/Data2D/CH00/Data00").shape == (20, 61)


@pytest.mark.slow
def test_the_virtual_probe_keeps_its_trigger_schedule(tmp_path):
    proc = flyscan(tmp_path, "--port", "sim://cli-probe?baud=9600&timing=wire", "--detector", "virtual_probe", *SMALL)
    stdout, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 0, stderr
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["cadence"] == "triggered" and stats["detector_rate_limit_hz"] == 1000.0
    assert set(stats["trigger_lateness_us"]) == {"p50", "p99", "max"} and stats["missed_triggers"] is not None
    assert stats["sample_interval_us"]["p50"] == pytest.approx(1000.0, rel=0.01)
    assert stats["smear_mm"] == 0.0 and stats["position_error_steps"]["p99"] < 2.0
    assert "trigger lateness" in stdout


def test_a_sample_rate_for_the_board_is_refused_naming_what_sets_its_rate(tmp_path):
    proc = flyscan(tmp_path, "--sample-rate-hz", "500")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--sample-rate-hz" in stderr and "--board-n-avg" in stderr
    assert "back to back" in stderr and "87 Hz" in stderr
    assert not (tmp_path / "stats.json").exists()


def test_bad_option_names_the_parameter(tmp_path):
    proc = flyscan(tmp_path, "--speed-mm-s", "-3")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "--speed-mm-s" in stderr and "[0.0218, 65.4] mm/s" in stderr
