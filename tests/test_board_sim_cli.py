"""aefi-board-sim served on a PTY, spoken to with pyserial as the legacy bench code does."""
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial

from pymodaq_plugins_aefi import _engine

VREF_VOLTS = 2.442


def _start(*args: str, lines: int = 1):
    exe = Path(sys.executable).parent / "aefi-board-sim"
    proc = subprocess.Popen([str(exe), "--pty", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    paths = [proc.stdout.readline().strip() for _ in range(lines)]
    assert all(p.startswith("/dev/") for p in paths), (paths, proc.stderr.read() if proc.poll() is not None else "")
    return proc, paths


def _stop(proc) -> str:
    """SIGTERM, then what is left of the simulator's stderr (communicate closes the pipes)."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.communicate(timeout=5)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[1]


@pytest.fixture
def board_pty():
    proc, (path,) = _start("--probe-mm", "38,32", "--seed", "7")
    try:
        yield path, proc
    finally:
        _stop(proc)


def _measure(port: serial.Serial, n_avg: int) -> tuple[str, list[int], float]:
    t0 = time.perf_counter()
    port.write(f"m{n_avg}*".encode())
    ack = port.readline().decode("ascii").rstrip("\r\n")
    data = port.readline().decode("ascii")
    elapsed = time.perf_counter() - t0
    return ack, [int(c) for c in data.split("\t") if c.strip()], elapsed


def test_pyserial_client_measures_the_field_at_the_probe(board_pty):
    path, proc = board_pty
    with serial.Serial(path, 1_500_000, timeout=2, exclusive=True) as port:
        ack, codes, _ = _measure(port, 50)
        assert ack == "m50*OK"
        assert len(codes) == 8
        volts = np.array(codes[:6]) / 2**23 * VREF_VOLTS
        truth = _engine.field_map_volts(np.array([38.0]), np.array([32.0]))[0]
        np.testing.assert_allclose(volts, truth, atol=1e-3)
        port.write(b"a17*")
        assert port.readline() == b"a17*OK\r\n"
        port.write(b"d1*")  # ADC1 gain 2: code 1 and 5 double
        assert port.readline() == b"d1*OK\r\n"
        _, doubled, _ = _measure(port, 50)
        assert doubled[0] == pytest.approx(2 * codes[0], rel=0.01)
        port.write(b"a999*")
        assert port.readline() == b"?ADDR a999*\r\n"
    assert proc.poll() is None


@pytest.mark.slow
def test_round_trip_grows_with_averaging_like_the_real_board(board_pty):
    path, _ = board_pty
    with serial.Serial(path, 1_500_000, timeout=2) as port:
        t1 = min(_measure(port, 1)[2] for _ in range(5))
        t127 = min(_measure(port, 127)[2] for _ in range(3))
    # model: 11.5 ms at n=1, 41.7 ms at n=127; generous bounds (loaded CI machine)
    assert 0.010 < t1 < 0.030, t1
    assert 0.040 < t127 < 0.080, t127
    assert t127 - t1 > 0.025


def test_one_process_serves_the_arcus_and_a_board_that_follows_it():
    proc, (board_path, arcus_path) = _start("--with-arcus", "--timing", "none", lines=2)
    try:
        with serial.Serial(arcus_path, 9600, timeout=2) as arcus, \
                serial.Serial(board_path, 1_500_000, timeout=2) as board:
            for command in (b"@00PX=1743\r", b"@00PY=1468\r"):  # the stage counters: on the strongest feature
                arcus.write(command)
                assert arcus.read_until(b"\r") == b"OK\r"
            _, codes, _ = _measure(board, 50)
        volts = np.array(codes[:6]) / 2**23 * VREF_VOLTS
        truth = _engine.field_map_volts(np.array([1743 * 0.0218]), np.array([1468 * 0.0218]))[0]
        np.testing.assert_allclose(volts, truth, atol=1e-3)
        # the Rust drivers over the same PTYs
        with _engine.BoardController(f"serial://{board_path}") as ctrl:
            np.testing.assert_allclose(ctrl.measure(50), truth, atol=1e-3)
    finally:
        stderr = _stop(proc)
    assert proc.returncode == 0, stderr


def _drain(port: serial.Serial) -> int:
    """Reads until the simulator has nothing more to say (one quiet read timeout)."""
    total = 0
    while chunk := port.read(65536):
        total += len(chunk)
    return total


def _answers(port: serial.Serial) -> None:
    """After a flood the host resynchronises: one `*` ends any half command, then it is answered."""
    port.write(b"*")
    _drain(port)
    port.write(b"a17*")
    assert port.readline() == b"a17*OK\r\n"
    ack, codes, _ = _measure(port, 1)
    assert ack == "m1*OK" and len(codes) == 8


_FLOODS = {
    "random bytes": bytes(np.random.default_rng(7).integers(0, 256, 1 << 20, dtype=np.uint8)),
    "one oversized frame": b"7" * (1 << 20),
    "oversized frames with terminators": (b"a" * 5000 + b"*") * 200,
    "blank lines": b"\r\n \t" * (1 << 18),
    "valid commands, replies never read": b"m255*" * 20_000,
}


def test_a_flood_of_garbage_or_oversized_frames_leaves_the_simulator_serving(board_pty):
    path, proc = board_pty
    # a timeout long enough for any loaded machine: a write that cannot complete is the failure
    with serial.Serial(path, 1_500_000, timeout=0.5, write_timeout=120) as port:
        for what, flood in _FLOODS.items():
            port.write(flood)
            port.flush()
            assert proc.poll() is None, f"the simulator exited after {what}"
            _answers(port)
    assert proc.poll() is None
def test_the_filter_flag_gives_the_served_board_its_detection_chain():
    """--filter-tau-ms 20: muting the sources decays through the low-pass, bracketed by the host's
    stamps (the simulator stamps with the same monotonic clock)."""
    tau_s, delay_s = 0.020, 1.5 * 4095 / 4.096e6
    proc, (path,) = _start("--probe-mm", "38,32", "--timing", "none", "--filter-tau-ms", "20", "--noise-uv", "0")
    try:
        with serial.Serial(path, 1_500_000, timeout=2) as port:
            on = _measure(port, 1)[1][4]
            assert on > 0.5 * 2**23 / VREF_VOLTS
            t_mute_from = time.monotonic()
            for command in (b"a53*", b"d0*", b"a52*", b"d0*"):  # the DDS1/DDS2 gains: sources off
                port.write(command)
                assert port.readline() == command + b"OK\r\n"
            t_mute_to = t_send = time.monotonic()
            code = _measure(port, 1)[1][4]
            t_recv = time.monotonic()
    finally:
        stderr = _stop(proc)
    low = on * math.exp(-(t_recv - t_mute_from) / tau_s)
    high = on * math.exp(-max(t_send - delay_s - t_mute_to, 0.0) / tau_s)
    assert low - 2 <= code <= high + 2, (code, low, high)
    assert "detection low-pass 20 ms" in stderr


def test_a_bad_filter_time_constant_is_refused():
    exe = Path(sys.executable).parent / "aefi-board-sim"
    done = subprocess.run([str(exe), "--filter-tau-ms", "-1"], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "--filter-tau-ms must be in [0, 10000] ms" in done.stderr


def test_offset_flag_is_the_muted_boards_reading():
    """--offset-uv: with DDS1/DDS2's gains at 0 the board reads its noise plus the offset, on every channel."""
    proc, (path,) = _start("--probe-mm", "38,32", "--seed", "3", "--timing", "none", "--offset-uv", "5000")
    try:
        with serial.Serial(path, 1_500_000, timeout=2, exclusive=True) as port:
            for command in (b"a53*", b"d0*", b"a52*", b"d0*"):
                port.write(command)
                assert port.readline().decode("ascii").rstrip("\r\n") == command.decode() + "OK"
            muted = np.mean([np.array(_measure(port, 127)[1][:6]) for _ in range(4)], axis=0) / 2**23 * VREF_VOLTS
    finally:
        _stop(proc)
    np.testing.assert_allclose(muted, 5e-3, atol=6 * 300e-6 / np.sqrt(4 * 127) + 2 * VREF_VOLTS / 2**23)
