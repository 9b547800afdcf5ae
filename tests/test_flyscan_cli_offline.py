"""`aefi-flyscan` main() wired to fakes: stats.json keys, map.png, HDF5, summary, exit codes (no engine)."""
import json

import pytest

from pymodaq_plugins_aefi import bootstrap
from pymodaq_plugins_aefi.cli import flyscan
from pymodaq_plugins_aefi.testing.fakes import FakeScanPort
from test_flyscan_cli import STATS_KEYS  # one list of the keys stats.json holds


@pytest.fixture
def fake_port(monkeypatch):
    ports = []
    real = bootstrap.build_flyscan

    def build(*args, **kwargs):
        ports.append(kwargs.pop("scan_port", None) or FakeScanPort(**getattr(build, "options", {})))
        return real(*args, scan_port=ports[-1], **kwargs)

    monkeypatch.setattr(bootstrap, "build_flyscan", build)
    build.ports = ports
    return build


def test_hardware_run_writes_files_with_null_truth_figures(tmp_path, fake_port, capsys):
    code = flyscan.main(["--out", str(tmp_path), "--port", "tcp://127.0.0.1:9", "--lines", "4", "--no-progress"])
    assert code == 0
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert set(stats) == STATS_KEYS
    assert stats["position_error_steps"] is None and stats["map_rms_error_rel"] is None
    assert stats["encoder_error_counts"] is None and stats["syn"] is None  # no encoder by default
    assert stats["detector_lag_true_ms"] is None and stats["map_rms_error_rel_uncompensated"] is None
    assert stats["detector_lag_source"] in ("estimated", "unknown") and isinstance(stats["detector_lag_applied"], bool)
    assert stats["efficiency"] is None and stats["overhead_per_line_ms"] is None  # the fake reports no physics
    assert stats["status"] == "completed" and stats["lines"] == 4 and stats["samples"] > 0
    assert stats["step_scan_estimate_s"] > 60
    assert (tmp_path / "map.png").stat().st_size > 5_000 and (tmp_path / "scan.h5").exists()
    assert fake_port.ports[0].executed[0].config.detector == "none"
    out = capsys.readouterr().out
    assert "flying 4 lines" in out and "completed" in out and "scan.h5" in out


def test_aborted_run_exits_130_only_when_interrupted(tmp_path, fake_port, capsys):
    fake_port.options = {"abort_after_lines": 2}
    code = flyscan.main(["--out", str(tmp_path), "--port", "tcp://127.0.0.1:9", "--lines", "4", "--no-progress"])
    # aborted without Ctrl-C (e.g. by the engine): a failure, not an interruption
    assert code == flyscan.EXIT_FAILED
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["status"] == "aborted" and stats["lines"] == 2
    assert "(partial)" in capsys.readouterr().out


def test_the_plan_advice_warns_with_the_speed_that_fixes_it(tmp_path, fake_port, capsys):
    # 127 averages: ~24 Hz and a 30 ms window; 1 mm cells at 20 mm/s get 1.2 samples, smeared 0.6 mm
    code = flyscan.main(["--out", str(tmp_path), "--port", "tcp://127.0.0.1:9", "--board", "tcp://127.0.0.1:10",
                         "--board-n-avg", "127", "--lines", "2", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("plan: back to back detector at ~24.0 Hz")
    warnings = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2 and all("fly at most 12 mm/s" in w for w in warnings), warnings
    assert out.index("warning:") < out.index("flying")
    assert fake_port.ports[0].executed[0].config.trigger == "continuous"


def test_no_warning_when_every_cell_gets_samples(tmp_path, fake_port, capsys):
    code = flyscan.main(["--out", str(tmp_path), "--port", "tcp://127.0.0.1:9", "--board", "tcp://127.0.0.1:10",
                         "--lines", "2", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "4.3 samples per 1 mm cell" in out and "warning:" not in out


def test_a_configured_detector_lag_is_applied_and_recorded(tmp_path, fake_port, capsys):
    code = flyscan.main(["--out", str(tmp_path), "--port", "tcp://127.0.0.1:9", "--lines", "4", "--no-progress",
                         "--detector-lag-ms", "12.5"])
    assert code == 0
    assert fake_port.ports[0].executed[0].config.detector_lag_ms == 12.5
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["detector_lag_ms"] == 12.5 and stats["detector_lag_source"] == "configured"
    assert stats["detector_lag_applied"] is True and stats["detector_lag_uncertainty_ms"] is None
    assert "detector lag 12.50 ms (configured), applied" in capsys.readouterr().out


@pytest.mark.parametrize("value, message", [("abc", "expected auto or a number of ms"),
                                            ("-3", "outside the allowed range")])
def test_a_bad_detector_lag_is_refused_before_anything_moves(tmp_path, fake_port, capsys, value, message):
    argv = ["--out", str(tmp_path), "--port", "tcp://127.0.0.1:9", "--no-progress", "--detector-lag-ms", value]
    try:
        code = flyscan.main(argv)
    except SystemExit as exit_:  # argparse refuses what is not a number
        code = exit_.code
    assert code == 2 and message in capsys.readouterr().err
    assert not fake_port.ports or not fake_port.ports[0].executed
