"""Fault matrix, output side: every sample acquired reaches the file whatever the ending (the
interrupted line kept and flagged partial), the line journal survives `kill -9`, --out problems are
named before anything moves, a save that fails goes to a fallback file, the stop signals."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_aefi.adapters.h5_repository import H5ResultsRepository, load_results
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.cli.flyscan import DEFAULTS
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.events import FlyScanProgress
from pymodaq_plugins_aefi.domain.fly_scan import LineState

#: One long line at 9600 baud: ~3 s of flight, so that a stop lands mid-line.
ONE_LINE = dict(DEFAULTS, lines=1, points_per_line=61, fast_start_mm=14.0, fast_stop_mm=74.0, slow_start_mm=30.0,
                slow_stop_mm=30.0, detector="virtual_probe")


class AbortWhenFlying:
    """Aborts the study once the line has `after` samples (from the scan's own thread, as the GUI's Stop)."""

    def __init__(self, after: int) -> None:
        self.after, self.service, self.fired = after, None, threading.Event()

    def on_event(self, event):
        if isinstance(event, FlyScanProgress) and event.state == "flying" and event.samples >= self.after \
                and not self.fired.is_set():
            self.fired.set()
            self.service.abort()


def test_abort_mid_line_keeps_every_sample_and_flags_the_line_partial(tmp_path):
    stopper = AbortWhenFlying(after=300)
    app = build_flyscan("sim://fault-partial?baud=9600&timing=wire", out_dir=tmp_path, file_name="scan.h5",
                        observers=[stopper])
    stopper.service = app.service
    outcome = app.service.run_study(FlyScanConfig(**ONE_LINE))
    results = outcome.results
    assert stopper.fired.is_set() and results.status.value == "aborted" and results.partial
    acquired = results.stats["samples"]
    assert acquired >= 300
    assert results.samples == acquired  # the engine's count: every sample acquired is in the results
    (line,) = results.lines
    assert line.state is LineState.FAILED and line.partial and line.samples == acquired
    assert np.isfinite(results.map.volts).any()  # the partial line is on the map too
    assert outcome.location == str(tmp_path / "scan.h5") and app.repository.last_error is None
    saved = load_results(outcome.location)
    assert saved.samples == acquired and saved.lines[0].partial and saved.status.value == "aborted"
    np.testing.assert_array_equal(saved.raw.seq, results.raw.seq)


def test_journal_holds_each_line_as_it_completes(tmp_path):
    """What a `kill -9` leaves: the journal, readable, holding every finished line."""
    seen = {}

    class ReadJournalMidScan:
        def on_event(self, event):
            if isinstance(event, FlyScanProgress) and event.lines_done == 2 and "mid" not in seen:
                seen["mid"] = load_results(tmp_path / "scan.h5")

    config = FlyScanConfig(**dict(ONE_LINE, lines=3, slow_start_mm=25.0, slow_stop_mm=45.0, fast_start_mm=20.0,
                                  fast_stop_mm=40.0, points_per_line=21))
    app = build_flyscan("sim://fault-journal?timing=none", out_dir=tmp_path, file_name="scan.h5",
                        observers=[ReadJournalMidScan()])
    results = app.service.run_study(config).results
    mid = seen["mid"]
    assert mid.status.value == "failed" and "ended mid-scan" in mid.error  # read while running
    assert [line.state for line in mid.lines][:2] == [LineState.ACQUIRED] * 2
    assert mid.samples == sum(results.lines[i].samples for i in range(2))
    np.testing.assert_array_equal(mid.raw.seq, results.raw.seq[: mid.samples])
    assert not (tmp_path / "scan.part.h5").exists()


def test_a_failed_save_goes_to_the_temp_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    repo = H5ResultsRepository(tmp_path / "out", "scan.h5")
    app = build_flyscan("sim://fault-fallback?timing=none", repository=repo)
    config = FlyScanConfig(**dict(ONE_LINE, fast_start_mm=20.0, fast_stop_mm=30.0, points_per_line=11))
    real_write = repo._write

    def write(results, path):
        if path.parent == tmp_path / "out":
            raise OSError(28, "No space left on device")
        real_write(results, path)

    monkeypatch.setattr(repo, "_write", write)
    outcome = app.service.run_study(config)
    assert outcome.location == str(tmp_path / "tmp" / f"aefi-{outcome.results.scan_id}.h5")
    assert "No space left on device" in repo.last_error and str(tmp_path / "out" / "scan.h5") in repo.last_error
    assert load_results(outcome.location).samples == outcome.results.samples
    # the journal where the file was meant to go still has every line
    assert load_results(tmp_path / "out" / "scan.h5").samples == outcome.results.samples


def flyscan(out, *args):
    cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(out), "--no-progress", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_out_naming_an_existing_file_is_refused_before_motion(tmp_path):
    target = tmp_path / "taken"
    target.write_text("x")
    proc = flyscan(target)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and f"--out {target} is an existing file" in stderr and "Traceback" not in stderr
    assert "flying" not in stdout


def test_out_under_a_file_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    proc = flyscan(tmp_path / "file" / "sub")
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "cannot create the folder" in stderr and "Traceback" not in stderr


def test_out_without_room_is_refused_with_the_estimate(tmp_path, monkeypatch):
    from pymodaq_plugins_aefi.cli import flyscan as cli

    usage = type("usage", (), {"free": 1000})
    monkeypatch.setattr(cli.shutil, "disk_usage", lambda path: usage)
    assert cli.main(["--out", str(tmp_path), "--no-progress"]) == 2
    assert not (tmp_path / "scan.h5").exists()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_stop_signals_save_everything_and_exit_128_plus_n(tmp_path, signum):
    proc = flyscan(tmp_path, "--port", f"sim://fault-signal-{signum}?baud=9600&timing=wire", "--lines", "2")
    seen = _lines_until(proc, "flying")  # the plan's advice and the output come before the flight
    assert seen[0].startswith("plan:") and any("output:" in line for line in seen), seen
    time.sleep(4.0)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, stderr
    assert "Traceback" not in stderr and "aborted" in stdout
    results = load_results(tmp_path / "scan.h5")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert results.status.value == "aborted" and results.partial
    assert results.samples == results.stats["samples"] == stats["samples"]
    assert results.stats["abort_latency_ms"] is not None and results.stats["abort_latency_ms"] < 20


def test_limit_mid_line_is_seen_at_once_and_named(tmp_path):
    """The + limit of the fast axis at 40 mm on a 14 → 74 mm line: seen within a few polls, the
    message names the axis, the side and the position in mm; every sample acquired is saved."""
    from pymodaq_plugins_aefi import _engine

    step_mm = ONE_LINE["step_um"] * 1e-3
    limit_steps = round(40.0 / step_mm)
    url = f"sim://fault-limit?baud=9600&timing=wire&limit_hit=X={limit_steps}"
    ended_ns = []

    class WhenItEnds:
        def on_event(self, event):
            if type(event).__name__ == "FlyScanFailed":
                ended_ns.append(time.monotonic_ns())

    app = build_flyscan(url, out_dir=tmp_path, file_name="scan.h5", observers=[WhenItEnds()])
    outcome = app.service.run_study(FlyScanConfig(**ONE_LINE))
    results = outcome.results
    assert results.status.value == "failed"
    assert "axis X: + limit" in results.error and f"at {limit_steps * step_mm:.3f} mm" in results.error
    assert "--clear-errors" in results.error
    assert results.samples == results.stats["samples"] > 0 and results.lines[0].partial
    # when the axis reached the limit, from the simulator's ground truth
    t = np.arange(results.raw.t_ns[0], ended_ns[0], 1_000_000, dtype=np.int64)
    truth = np.asarray(_engine.sim_truth(url, "X", t))
    t_limit = int(t[np.argmax(truth >= limit_steps)])
    assert truth.max() == limit_steps
    poll_s = 1.0 / results.stats["poll_rate_hz"]
    react_ms = (ended_ns[0] - t_limit) * 1e-6
    print(f"limit at {limit_steps * step_mm:.3f} mm: scan failed {react_ms:.0f} ms after the axis reached it "
          f"(poll period {poll_s * 1e3:.1f} ms); {results.samples} of {results.stats['samples']} samples saved")
    # the fault is seen after two polls without motion and a status query: well within a line's time
    assert (ended_ns[0] - t_limit) * 1e-9 < 10 * poll_s + 0.2, (ended_ns[0] - t_limit) * 1e-9
    assert load_results(outcome.location).samples == results.samples


def test_a_limit_latched_before_the_scan_is_refused_then_cleared(tmp_path, capsys):
    url = "sim://fault-latched?timing=none&limit_hit=Y=200"
    from pymodaq_plugins_aefi import _engine

    link = _engine.ArcusController(url)
    try:
        link.move_abs("Y", 400)  # runs into the limit switch at 200 and latches it
        deadline = time.monotonic() + 5
        while not link.status("Y")["plus_limit_error"] and time.monotonic() < deadline:
            time.sleep(0.01)
        start_y = link.position("Y")
    finally:
        link.close()
    args = ["--out", str(tmp_path), "--port", url, "--no-progress", "--lines", "2", "--fast-start-mm", "20",
            "--fast-stop-mm", "25", "--points-per-line", "6"]
    from pymodaq_plugins_aefi.cli import flyscan as cli

    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "axis Y: + limit" in err and "before any motion" in err and "--clear-errors" in err, err
    link = _engine.ArcusController(url)
    try:
        assert link.position("Y") == start_y and link.position("X") == 0  # nothing moved
    finally:
        link.close()
    assert cli.main([*args, "--clear-errors"]) == 0
    assert "cleared the latched errors of axis Y" in capsys.readouterr().out


def _lines_until(proc, word, limit=5):
    seen = []
    for _ in range(limit):
        line = proc.stdout.readline()
        seen.append(line)
        if word in line:
            return seen
    raise AssertionError(f"no {word!r} in {seen}")


@pytest.mark.slow
def test_kill_9_mid_scan_leaves_every_finished_line_readable(tmp_path):
    """Read while the scan writes (SWMR: never half-written metadata), then killed wherever it is."""
    proc = flyscan(tmp_path, "--port", "sim://fault-kill9?timing=none", "--lines", "8", "--detector", "virtual_probe")
    try:
        _lines_until(proc, "flying")
        journal = tmp_path / "scan.h5"
        deadline = time.monotonic() + 60
        lines_done = 0
        while lines_done < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
            lines_done = sum(line.state is LineState.ACQUIRED for line in load_results(journal).lines)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    left = load_results(journal)
    done = [line for line in left.lines if line.state is LineState.ACQUIRED]
    assert len(done) >= 2 and left.status.value == "failed" and "ended mid-scan" in left.error
    assert left.samples == sum(line.samples for line in done) > 0
    assert set(np.unique(left.raw.line)) == {line.index for line in done}


@pytest.fixture
def small_disk(tmp_path):
    """A 12 MB tmpfs (root only): a disk that really fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_disk_full_mid_scan_saves_to_the_temp_folder_without_a_crash(tmp_path, small_disk):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    cmd = [sys.executable, "-m", "pymodaq_plugins_aefi.cli.flyscan", "--out", str(small_disk / "run"),
           "--no-progress", "--port", "sim://fault-disk-full?timing=none", "--lines", "4",
           "--detector", "virtual_probe"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _lines_until(proc, "flying")
        time.sleep(4.0)  # a line or so in the journal, then the disk fills up
        with open(small_disk / "filler", "wb") as filler:
            try:
                while True:
                    filler.write(b"\0" * 65536)
            except OSError:
                pass
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 1, stderr  # complete, but not where --out said
    assert "Traceback" not in stderr and "the line journal stopped" in stderr
    (fallback,) = tmp_path.glob("aefi-scan_*.h5")
    assert f"the results were saved to {fallback} instead" in stderr
    saved = load_results(fallback)
    assert saved.status.value == "completed" and saved.samples == saved.stats["samples"] > 0
    left = load_results(small_disk / "run" / "scan.h5")  # the journal, up to the line the disk took
    assert 0 < left.samples < saved.samples
    np.testing.assert_array_equal(left.raw.seq, saved.raw.seq[: left.samples])


@pytest.mark.parametrize("url, says", [("bogus://x", 'unknown scheme "bogus"'),
                                       ("serial:///dev/ttyUSB9?baud=abc", "baud must be an integer")])
def test_a_bad_url_exits_2_with_the_usage_line(tmp_path, capsys, url, says):
    from pymodaq_plugins_aefi.cli import flyscan as cli

    assert cli.main(["--out", str(tmp_path), "--port", url, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: aefi-flyscan") and says in err and "Traceback" not in err


def test_a_closed_tcp_port_says_connection_refused(tmp_path, capsys):
    import socket

    from pymodaq_plugins_aefi.cli import flyscan as cli

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert cli.main(["--out", str(tmp_path), "--port", f"tcp://127.0.0.1:{port}", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert f"connection refused by 127.0.0.1:{port}: nothing listens there" in err
