"""Ground truth from the simulator's truth log (its JSON layout), on hand-made logs."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.cli.bench_truth import TruthLog

FOREVER_NS = (2**63 - 1) // 4
S = 1_000_000_000


def _piece(t0, dur, x0, v0, a, phase="Constant"):
    return {"t0_ns": t0, "dur_ns": dur, "x0": x0, "v0": v0, "a": a, "phase": phase}


def _rest_axis(x=0.0):
    return {"pieces": [_piece(0, FOREVER_NS, x, 0.0, 0.0, "Rest")], "offsets": [], "encoder_offsets": [], "stalls": []}


def _trapezoid_log(offsets=(), stalls=()):
    # rest at 100 until 1 s, accelerate 0.5 s at 2000 pps², cruise 1 s at 1000 pps, rest at 1350
    x = {"pieces": [_piece(0, S, 100.0, 0.0, 0.0, "Rest"),
                    _piece(S, S // 2, 100.0, 0.0, 2000.0, "Accel"),
                    _piece(3 * S // 2, S, 350.0, 1000.0, 0.0),
                    _piece(5 * S // 2, FOREVER_NS, 1350.0, 0.0, 0.0, "Rest")],
         "offsets": [list(o) for o in offsets], "encoder_offsets": [], "stalls": [list(s) for s in stalls]}
    return {"t_start_ns": 0, "axes": [x, _rest_axis(-7.0), _rest_axis(), _rest_axis()]}


def test_pieces_give_exact_positions():
    log = TruthLog.from_json(_trapezoid_log())
    t = np.array([0, S, 5 * S // 4, 3 * S // 2, 2 * S, 3 * S, 100 * S])
    assert log.position_steps("X", t) == pytest.approx([100, 100, 100 + 0.5 * 2000 * 0.25**2, 350, 850, 1350, 1350])
    assert log.position_steps("Y", [5, 10**15]) == pytest.approx([-7.0, -7.0])


def test_counter_offset_and_stall():
    # P X=0 at 3 s shifts the counter frame; a stall from 2.0 to 2.2 s loses 200 pulses of travel.
    log = TruthLog.from_json(_trapezoid_log(offsets=[(3 * S, 1350.0)], stalls=[(2 * S, 2 * S + S // 5)]))
    assert log.position_steps("X", [2 * S + S // 10]) == pytest.approx([850.0])
    assert log.position_steps("X", [2 * S + S // 2]) == pytest.approx([1150.0])
    assert log.position_steps("X", [4 * S]) == pytest.approx([1350.0 - 200.0 - 1350.0])


def test_unknown_axis_is_refused():
    log = TruthLog.from_json(_trapezoid_log())
    with pytest.raises(ValueError, match="axis must be one of"):
        log.position_steps("W", [0])
