"""`aefi-doctor` against the simulators: the Arcus served on a PTY and on TCP, the board on a PTY, and the
fake PerformaxCom library; the latency timer read from a sysfs tree; the udev rule."""
import json
import subprocess
import sys

import pytest

from performax_fake import fake_library
from pymodaq_plugins_aefi.cli import doctor

#: Console scripts as modules: the same code, wherever pip put the scripts (Scripts\ on Windows).
MODULES = {"aefi-arcus-sim": "pymodaq_plugins_aefi.cli.arcus_sim",
           "aefi-board-sim": "pymodaq_plugins_aefi.cli.board_sim",
           "aefi-doctor": "pymodaq_plugins_aefi.cli.doctor"}
unix_only = pytest.mark.skipif(sys.platform == "win32", reason="the simulators' PTY servers are Unix-only")


@pytest.fixture
def served():
    """Starts simulators (argv lists); yields a function that returns the first line each printed."""
    procs = []

    def start(*argv: str) -> str:
        p = subprocess.Popen([sys.executable, "-m", MODULES[argv[0]], *argv[1:]], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        procs.append(p)
        line = p.stdout.readline().strip()
        assert line, p.stderr.read() if p.poll() is not None else "no first line"
        return line

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=10)
        p.stdout.close()
        p.stderr.close()


def run_doctor(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", MODULES["aefi-doctor"], *args], capture_output=True, text=True,
                          timeout=120)


@unix_only
@pytest.mark.slow
def test_links_given_by_url_pty_tcp_and_board(served, tmp_path):
    arcus_pty = served("aefi-arcus-sim", "--pty", "--baud", "38400")
    arcus_tcp = served("aefi-arcus-sim", "--tcp", "127.0.0.1:0", "--baud", "115200", "--device", "3")
    board_pty = served("aefi-board-sim")
    out = tmp_path / "report.json"
    done = run_doctor("--port", f"serial://{arcus_pty}", "--port", f"{arcus_tcp}?device=3&baud=115200",
                      "--board", f"serial://{board_pty}", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["ok"] and not report["discovered"]
    pty, tcp = report["arcus"]
    # the baud that answers: a PTY takes any, so the controller's own DB setting decides (3 = 38400)
    assert (pty["version"], pty["device_name"], pty["baud_code"], pty["baud"]) == ("V180BL", "4EX00", "3", 38400)
    assert tcp["device_name"] == "4EX03" and tcp["baud_code"] == "5"
    for check in (pty, tcp):
        rt = check["round_trip"]
        # the simulator delays each reply to at least the wire time the model computes
        assert rt["polls"] == doctor.POLLS and rt["min_ms"] >= rt["model_ms"] > 0, rt
    # "@00PX\r" + "0\r" at 38400 baud
    assert pty["round_trip"]["model_ms"] == pytest.approx(8 * 10 / 38400 * 1e3, abs=1e-3)
    board = report["boards"][0]
    assert len(board["codes"]) == 8 and len(board["volts"]) == 6
    assert [r["n_avg"] for r in board["rates"]] == [1, 10, 127]
    for r in board["rates"]:
        # paced by the board simulator on the same model: never faster than it
        assert r["samples"] >= 3 and 0 < r["measured_hz"] <= r["model_hz"] * 1.01, r
    assert "4EX00, firmware V180BL" in done.stdout and "n=127:" in done.stdout


@unix_only
@pytest.mark.slow
def test_without_arguments_it_checks_what_it_finds(served, tmp_path, capsys):
    arcus_pty = served("aefi-arcus-sim", "--pty", "--baud", "9600")
    board_pty = served("aefi-board-sim")
    out = tmp_path / "report.json"
    # the OS's port list is replaced by the two simulator PTYs (pseudo-terminals are not listed)
    code = doctor.main(["--dll", str(fake_library()), "--json", str(out)], ports=lambda engine: [arcus_pty, board_pty])
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert code == 0, printed
    assert report["discovered"]
    found = {p["port"]: p["found"] for p in report["serial_ports"]}
    assert found == {arcus_pty: "arcus", board_pty: "board"}
    assert [d["url"] for d in report["performax_devices"]] == [f"performax://4ex0{i}" for i in range(4)]
    by_url = {c["url"].split("?")[0]: c for c in report["arcus"]}
    assert by_url[f"serial://{arcus_pty}"]["baud"] == 9600
    for i in range(4):
        check = by_url[f"performax://4ex0{i}"]
        assert check["ok"] and check["device_name"] == f"4EX0{i}" and check["baud"] is None
        # USB model: two 1 ms frames; the fake adds its 200 µs turnaround on top
        assert check["round_trip"]["model_ms"] == 2.0 and check["round_trip"]["min_ms"] >= 2.2
    # libusb: either devices with their state, or why it cannot be used here
    assert report["usb_error"] is not None or isinstance(report["usb_devices"], list)
    assert "Performax through PerformaxCom.dll" in printed and "performax://4ex03" in printed


def test_a_missing_port_fails_with_its_name(tmp_path):
    done = run_doctor("--port", "serial:///dev/aefi-no-such-port", "--board", "serial:///dev/aefi-no-board")
    assert done.returncode == 1
    assert "FAILED" in done.stdout and "/dev/aefi-no-such-port not found" in done.stdout
    assert "PROBLEMS FOUND" in done.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sysfs")
def test_latency_timer_from_sysfs(tmp_path):
    dev = tmp_path / "bus" / "usb-serial" / "devices" / "ttyUSB7"
    dev.mkdir(parents=True)
    (dev / "latency_timer").write_text("16\n")
    t = doctor.latency_timer("/dev/ttyUSB7", sysfs_root=tmp_path)
    assert t.value_ms == 16 and "echo 1 | sudo tee" in t.advice and str(dev / "latency_timer") in t.advice
    (dev / "latency_timer").write_text("1\n")
    assert doctor.latency_timer("/dev/ttyUSB7", sysfs_root=tmp_path).advice is None
    assert doctor.latency_timer("/dev/ttyS0", sysfs_root=tmp_path).value_ms is None


def test_udev_rule_is_shipped_printed_and_installed(tmp_path, capsys):
    rule = doctor.UDEV_RULE.read_text()
    assert 'ATTR{idVendor}=="1589"' in rule and 'ATTR{idProduct}=="a101"' in rule
    assert doctor.main(["--udev-rule"]) == 0
    assert rule.strip().splitlines()[-1] in capsys.readouterr().out
    assert doctor.main(["--udev-rule", "install", "--udev-dir", str(tmp_path / "rules.d")]) == 0
    assert (tmp_path / "rules.d" / "70-aefi-performax.rules").read_text() == rule
