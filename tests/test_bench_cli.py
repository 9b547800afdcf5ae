"""`aefi-bench --quick --json` end to end on the simulator: structure and sanity, no speed thresholds."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(sys.executable).parent / "aefi-bench"


def _finite_nonneg(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x >= 0


@pytest.mark.slow
def test_quick_run_writes_sane_json(tmp_path):
    out = tmp_path / "bench.json"
    plot = tmp_path / "lateness.png"
    proc = subprocess.run([str(BENCH), "--quick", "--rates", "100", "1000", "--json", str(out), "--plot", str(plot)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Python loop" in proc.stdout and "Rust engine" in proc.stdout
    doc = json.loads(out.read_text())
    assert {"machine", "config", "legacy", "rust", "ratios", "targets"} <= doc.keys()
    for loop in ("legacy", "rust"):
        for load in ("idle", "loaded"):
            for rate in ("100", "1000"):
                run = doc[loop]["runs"][load][rate]
                late = run["lateness_us"]
                assert run["triggers"] > 0
                assert 0 <= late["p50"] <= late["p99"] <= late["max"]
                assert run["missed"] >= 0
                assert run["polls"] > 0 and run["poll_rate_hz"] > 0
                # Nothing polls faster than the wire allows (a little slack for the stamp span).
                assert 0 < run["wire_fraction"] < 1.2
                err = run["pos_err_steps"]
                assert err["count"] > 0 and 0 <= err["p50"] <= err["p99"] <= err["max"]
                assert _finite_nonneg(run["cpu_s"])
        assert doc[loop]["map"]["wall_time_s"] > 0
    # The step scan cannot beat its own waits: 0.25 s after each move plus the 300 ms settle.
    assert doc["legacy"]["map"]["per_point_s"] >= 0.25 + 0.3
    for name, value in doc["ratios"].items():
        assert value is None or (math.isfinite(value) and value > 0), name
    assert {"p99_lateness", "poll_rate", "missed_triggers", "map_wall_time"} <= doc["ratios"].keys()
    assert plot.stat().st_size > 10_000


def test_bad_arguments_are_refused_before_anything_runs():
    proc = subprocess.run([str(BENCH), "--baud", "300"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "baud must be in 9600..115200" in proc.stderr
