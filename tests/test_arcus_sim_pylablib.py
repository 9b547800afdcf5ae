"""notes §8.8: a stock pyLabLib client (`Performax4EXStage`, serial mode) connects to
aefi-arcus-sim --pty, reads get_full_info("all"), moves, jogs, stops and homes."""
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pylablib.devices import Arcus

CLI = Path(sys.executable).parent / "aefi-arcus-sim"


def test_stock_pylablib_client_runs_against_the_simulator():
    proc = subprocess.Popen([str(CLI), "--pty", "--home", "X=-300"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(60)
    assert box and box[0], "aefi-arcus-sim printed no PTY path"
    stage = Arcus.Performax4EXStage(conn=(box[0].strip(), 9600))
    try:
        info = stage.get_full_info("all")
        assert info["device_number"] == "4EX00"
        assert info["baudrate"] == 9600
        assert info["position"] == [0, 0, 0, 0]
        assert info["axis_status"] == [[], [], [], []]
        assert info["enabled"] == [True, True, True, True]  # pyLabLib enables every axis at connect
        stage.set_global_speed(20_000)  # HS; keeps the test short
        assert stage.query("LS=2000") == "OK"
        stage.move_to("x", 2000)
        stage.wait_move("x", timeout=20)
        assert stage.get_position("x") == 2000
        stage.jog("y", "+")
        time.sleep(0.2)
        assert stage.is_moving("y")
        stage.stop("y")
        stage.wait_move("y", timeout=10)
        assert stage.get_position("y") > 0
        # pyLabLib 1.4's home() formats the direction as a bool ("HXFalse4"): the controller, and
        # so the simulator, answer "?HXFalse4". Home as the AEFI bench driver does, by raw command.
        assert stage.query("HXFalse4") == "?HXFalse4"
        assert stage.query("HX-4") == "OK"
        stage.wait_move("x", timeout=30)
        assert stage.get_position("x") == 0
        assert "sw_home" in stage.get_status("x")
    finally:
        stage.close()
        proc.send_signal(signal.SIGTERM)
        with proc:  # closes the pipes
            assert proc.wait(10) == 0
