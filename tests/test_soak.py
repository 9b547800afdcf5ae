"""`aefi-soak` for one minute: random faults from the matrix, every run checked (port free, motors
stopped, file readable, every acquired sample saved)."""
from pymodaq_plugins_aefi.cli.soak import FAULTS, main, soak


def test_one_minute_of_random_faults_loses_nothing(tmp_path, capsys):
    reports = soak(1.0, seed=12, out=tmp_path)
    assert reports and all(r.ok for r in reports), [r for r in reports if not r.ok]
    assert sum(r.saved for r in reports) == sum(r.acquired for r in reports) > 0
    assert {r.fault for r in reports} <= set(FAULTS)


def test_the_cli_prints_the_counts(tmp_path, capsys):
    assert main(["0", "--seed", "3", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 runs, 0 failed checks" in out and "samples:" in out
