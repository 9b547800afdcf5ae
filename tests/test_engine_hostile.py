"""No Rust panic reaches Python: every function `_engine` exports, and the controller's methods, called
with hostile arguments (NaN, infinities, extreme integers, negative durations, empty and malformed
strings and arrays) raise an ordinary Exception or return; never a PanicException."""
import inspect
import itertools
import json

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine

#: Functions that serve until a signal: their arguments are checked by the simulator CLIs' tests.
BLOCKING = {"serve_arcus_sim", "serve_board_sim"}
I64 = np.int64
HOSTILE = [float("nan"), float("inf"), -float("inf"), -1.0, 0, -1, 2**63 - 1, -(2**63), 2**64, 1e300, "", "X",
           "sim://", "sim://hostile?baud=0", "tcp://:0", "serial://", "\x00", None,
           np.array([], dtype=I64), np.array([-(2**63), 2**63 - 1], dtype=I64), np.array([np.nan]),
           np.array([1.0, np.nan, np.inf])]
NEGATIVE_LOG = json.dumps({"t_start_ns": 0, "axes": [{"pieces": [{"t0_ns": 0, "dur_ns": -5, "x0": 0.0, "v0": 1.0,
                                                                   "a": 0.0, "phase": "Rest"}],
                                                       "offsets": [], "encoder_offsets": [], "stalls": []}] * 4})
#: Short runs of the benchmarks, so that a hostile value that is accepted does not run for hours.
SHORT = {"trigger_benchmark": {"duration_s": 0.05}}


def _functions():
    for name, obj in sorted(vars(_engine).items()):
        if callable(obj) and not isinstance(obj, type) and not name.startswith("_") and name not in BLOCKING:
            yield name, obj


def _required(fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    return sum(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
               for p in params)


def _call(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception:
        pass  # refused: what a hostile argument should get
    except BaseException as err:  # PanicException derives from BaseException
        raise AssertionError(f"{getattr(fn, '__name__', fn)}{args}: {type(err).__name__}: {err}") from err


@pytest.mark.parametrize("name, fn", list(_functions()), ids=[name for name, _ in _functions()])
def test_every_function_refuses_hostile_arguments_without_a_panic(name, fn):
    n = _required(fn)
    kwargs = SHORT.get(name, {})
    for value in HOSTILE:
        _call(fn, *([value] * n), **kwargs)
        for k in range(n):  # one hostile argument among plausible ones
            args = ["sim://hostile-args", "X", np.array([0, 1], dtype=I64), 1.0][:n]
            args += [1.0] * (n - len(args))
            args[k] = value
            _call(fn, *args, **kwargs)


def test_a_truth_log_with_a_negative_duration_is_refused():
    with pytest.raises(Exception, match="lasts -5 ns"):
        _engine.sim_truth_from_log(NEGATIVE_LOG, "X", np.array([10], dtype=I64))


def test_the_controller_methods_refuse_hostile_arguments_without_a_panic():
    ctrl = _engine.ArcusController("sim://hostile-ctrl?timing=none")
    try:
        for name, method in inspect.getmembers(ctrl, callable):
            if name.startswith("_") or name in ("close", "wait_idle"):
                continue
            for values in itertools.product(HOSTILE[:12], repeat=1):
                _call(method, *values)
                _call(method, "X", *values)
        _call(ctrl.wait_idle, "X", float("nan"))
        _call(ctrl.wait_idle, "X", -1.0)
    finally:
        ctrl.close()
