"""Port held elsewhere, with real pyserial against the simulator's PTY: the scan's link holds the
advisory lock pyserial's `exclusive=True` takes (and TIOCEXCL, which root bypasses), and opening the
link discards what an earlier client left unread before the first command."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from pymodaq_plugins_aefi import _engine

SIM = Path(sys.executable).parent / "aefi-arcus-sim"


@pytest.fixture
def sim_pty():
    proc = subprocess.Popen([str(SIM), "--pty", "--baud", "38400"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    box = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    try:
        assert box and box[0].strip(), proc.stderr.read() if proc.poll() is not None else "no PTY path"
        yield box[0].strip()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_an_exclusive_pyserial_open_is_refused_while_the_link_is_open(sim_pty):
    link = _engine.ArcusController(f"serial://{sim_pty}?baud=38400")
    try:
        assert link.position("X") == 0
        with pytest.raises(serial.SerialException, match="exclusive|lock|busy"):
            serial.Serial(sim_pty, 38400, timeout=0.2, exclusive=True)
        assert link.position("X") == 0  # the conversation goes on untouched
    finally:
        link.close()
    with serial.Serial(sim_pty, 38400, timeout=0.2, exclusive=True):  # free again once closed
        pass


def test_the_port_is_busy_for_a_second_link_while_pyserial_holds_it(sim_pty):
    with serial.Serial(sim_pty, 38400, timeout=0.2, exclusive=True), pytest.raises(_engine.PortBusyError):
        _engine.ArcusController(f"serial://{sim_pty}?baud=38400")


def test_stale_bytes_from_an_earlier_client_are_discarded_before_the_first_command(sim_pty):
    with serial.Serial(sim_pty, 38400, timeout=0.2) as earlier:
        earlier.write(b"@00VER\r")  # asks, then leaves without reading the reply
        time.sleep(0.2)
    link = _engine.ArcusController(f"serial://{sim_pty}?baud=38400")
    try:
        assert link.position("X") == 0  # not the version string left in the line
        assert link.query("VER") != "0"
    finally:
        link.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="what root may do")
def test_root_bypasses_the_kernels_exclusive_mode_but_not_the_lock(sim_pty):
    link = _engine.ArcusController(f"serial://{sim_pty}?baud=38400")
    try:
        with serial.Serial(sim_pty, 38400, timeout=0.2):  # plain open: TIOCEXCL does not stop root
            pass
        with pytest.raises(serial.SerialException):
            serial.Serial(sim_pty, 38400, timeout=0.2, exclusive=True)
    finally:
        link.close()
