"""aefi-arcus-sim --pty checked by an independent client: plain pyserial, none of the project's
driver code. Frames are written by hand as the manual gives them (@00<cmd>CR)."""
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

CLI = Path(sys.executable).parent / "aefi-arcus-sim"


def _first_line(proc: subprocess.Popen, timeout_s: float = 60.0) -> str:
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout_s)
    if not box or not box[0]:
        proc.kill()
        raise AssertionError(f"no first line from aefi-arcus-sim: {proc.stderr.read() if proc.stderr else ''}")
    return box[0].strip()


@pytest.fixture
def sim_pty():
    with subprocess.Popen([str(CLI), "--pty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            yield proc, _first_line(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


def _ask(port: serial.Serial, frame: bytes) -> bytes:
    port.write(frame)
    return port.read_until(b"\r")


def test_plain_pyserial_client(sim_pty):
    proc, path = sim_pty
    assert path.startswith("/dev/"), path
    with serial.Serial(path, 9600, timeout=2.0) as port:
        assert _ask(port, b"@00VER\r") == b"V180BL\r"
        assert _ask(port, b"@00DN\r") == b"4EX00\r"
        assert _ask(port, b"@00PX\r") == b"0\r"
        assert _ask(port, b"@00ID\r") == b"?ID\r"
        assert _ask(port, b"@00px\r") == b"?px\r"
        # A frame for another device number gets no reply at all.
        port.timeout = 0.3
        assert _ask(port, b"@01VER\r") == b""
        port.timeout = 2.0
        assert _ask(port, b"@00X1000\r") == b"OK\r"
        fields = _ask(port, b"@00MST\r").decode().strip().split(":")
        assert len(fields) == 9
        assert int(fields[0]) & 0x7, fields  # X accelerating, cruising or decelerating
        assert _ask(port, b"@00X5\r") == b"?PULSING\r"
        # Bytes in any chunking.
        port.write(b"@00P")
        time.sleep(0.05)
        moving_at = int(_ask(port, b"X\r"))
        assert 0 <= moving_at <= 1000
        deadline = time.monotonic() + 15
        while int(_ask(port, b"@00PX\r")) != 1000:
            assert time.monotonic() < deadline, "X never reached 1000"
            time.sleep(0.05)
        assert _ask(port, b"@00MST\r") == b"0:0:0:0:0:0:0:36:0\r"
        assert _ask(port, b"@00PP\r") == b"1000:0:0:0\r"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


def test_reopening_the_pty_keeps_the_simulator(sim_pty):
    proc, path = sim_pty
    with serial.Serial(path, 9600, timeout=2.0) as port:
        assert _ask(port, b"@00PY=-42\r") == b"OK\r"
    with serial.Serial(path, 9600, timeout=2.0) as port:
        assert _ask(port, b"@00PY\r") == b"-42\r"
