"""_engine.BoardController on the in-process simulated bench: values against truth, errors, lease."""
import itertools
import threading
import time

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine

_BENCHES = itertools.count()
STEP_MM = 0.0218
PROBE_STEPS = (1743, 1468)  # on the strongest feature of the simulated sample


def _bench(timing: str = "none") -> str:
    name = f"boardctl{next(_BENCHES)}"
    with _engine.ArcusController(f"sim://{name}?timing=none") as arcus:
        arcus.set_position("X", PROBE_STEPS[0])
        arcus.set_position("Y", PROBE_STEPS[1])
    return f"sim://{name}?timing={timing}"


def _truth_volts() -> np.ndarray:
    x, y = (np.array([s * STEP_MM]) for s in PROBE_STEPS)
    return _engine.field_map_volts(x, y)[0]


def test_measure_reads_the_field_at_the_true_probe_position():
    with _engine.BoardController(_bench()) as board:
        volts = board.measure(100)
        assert volts.shape == (6,) and volts.dtype == np.float64
        np.testing.assert_allclose(volts, _truth_volts(), atol=2e-4)
        codes = board.read_codes(100)
        assert codes.shape == (8,)
        np.testing.assert_allclose(codes[:6] / 2**23 * 2.442, _truth_volts(), atol=2e-4)


def test_measure_timed_stamps_match_the_simulators_truth():
    url = _bench("wire")
    with _engine.BoardController(url) as board:
        m = board.measure_timed(10)
    truth = _engine.sim_board_truth(url, 1)
    assert m["t_send_ns"] < m["t_mid_ns"] < m["t_recv_ns"]
    assert abs(m["t_mid_ns"] - truth["t_mid_ns"][0]) <= m["t_err_ns"] + 200_000
    assert m["window_ns"] == pytest.approx(10 * 238_900, rel=0.01)
    assert truth["x_mm"][0] == pytest.approx(PROBE_STEPS[0] * STEP_MM)


def test_configure_changes_the_adc_gain_but_not_the_volts():
    with _engine.BoardController(_bench()) as board:
        before = board.read_codes(50)
        assert board.configure(adc_gains=(2, 2, 2, 2)) > 20
        after = board.read_codes(50)
        assert after[4] == pytest.approx(2 * before[4], rel=0.01)
        np.testing.assert_allclose(board.measure(50), _truth_volts(), atol=2e-4)
        with pytest.raises(ValueError, match="adc_gains"):
            board.configure(adc_gains=(3, 1, 1, 1))
        with pytest.raises(ValueError, match="n_avg"):
            board.measure(0)
        with pytest.raises(ValueError, match="dds_frequency_hz"):
            board.configure(dds_frequency_hz=-5.0)


@pytest.mark.parametrize("fault, error", [("garbage", _engine.BoardError), ("short", _engine.BoardError),
                                          ("silence", _engine.LinkTimeoutError)])
def test_faults_are_typed_errors_naming_the_port(fault, error):
    url = _bench()
    name = url.split("://")[1].split("?")[0]
    with _engine.BoardController(url, timeout_s=0.2) as board:
        _engine.sim_board_fault(url, fault)
        with pytest.raises(error, match=name):
            board.measure(1)
        assert board.measure(1).shape == (6,)


def test_unplugged_board_is_a_link_error_and_exclusive_open():
    url = _bench()
    board = _engine.BoardController(url)
    with pytest.raises(_engine.PortBusyError):
        _engine.BoardController(url)
    _engine.sim_board_fault(url, "unplug")
    with pytest.raises(_engine.LinkError, match="unplugged"):
        board.measure(1)
    _engine.sim_board_fault(url, "clear")
    board.close()
    with pytest.raises(_engine.LinkError, match="closed"):
        board.measure(1)
    with pytest.raises(ValueError, match="fault"):
        _engine.sim_board_fault(url, "melt")


def test_measure_releases_the_gil():
    url = _bench("wire")
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.001)

    with _engine.BoardController(url) as board:
        thread = threading.Thread(target=ticker)
        thread.start()
        board.measure(127)  # ~42 ms on the wire model
        stop.set()
        thread.join()
    assert len(ticks) > 5


def test_missing_serial_port_names_it():
    with pytest.raises(_engine.PortNotFoundError, match="ttyDOESNOTEXIST"):
        _engine.BoardController("serial:///dev/ttyDOESNOTEXIST")


def _error_of(call) -> Exception:
    try:
        call()
    except _engine.AefiError as err:
        return err
    raise AssertionError("no error raised")


def test_every_board_error_names_the_board_and_the_port():
    url = _bench()
    name = url.split("://")[1].split("?")[0]
    board = _engine.BoardController(url, timeout_s=0.2)
    errors = {"busy": _error_of(lambda: _engine.BoardController(url)),
              "missing": _error_of(lambda: _engine.BoardController("serial:///dev/ttyDOESNOTEXIST")),
              "config": _error_of(lambda: board.configure(osr=3))}
    for fault in ("garbage", "short", "silence", "unplug"):
        _engine.sim_board_fault(url, fault)
        errors[fault] = _error_of(lambda: board.measure(1))
        _engine.sim_board_fault(url, "clear")
    board.close()
    errors["closed"] = _error_of(lambda: board.measure(1))
    for what, err in errors.items():
        text = str(err)
        port = "ttyDOESNOTEXIST" if what == "missing" else name
        assert "board" in text and port in text, f"{what}: {type(err).__name__}: {text}"
