"""The exception tree of `_engine`: one root (AefiError), the built-in bases callers rely on, and the
classes real failures raise."""
import inspect

import pytest

from pymodaq_plugins_aefi import _engine

EXCEPTIONS = {
    name: obj for name, obj in vars(_engine).items() if inspect.isclass(obj) and issubclass(obj, BaseException)
}


def test_every_exception_is_an_aefi_error_of_the_module():
    assert len(EXCEPTIONS) == 15
    for name, cls in EXCEPTIONS.items():
        assert issubclass(cls, _engine.AefiError), name
        assert cls.__module__ == "pymodaq_plugins_aefi._engine" and cls.__name__ == name
        assert cls.__doc__


@pytest.mark.parametrize(
    "name, bases",
    [
        ("LinkError", (_engine.AefiError,)),
        ("PortBusyError", (_engine.LinkError,)),
        ("PortNotFoundError", (_engine.LinkError,)),
        ("UsbUnavailableError", (_engine.LinkError,)),
        ("LinkTimeoutError", (_engine.LinkError, TimeoutError)),
        ("WaitTimeoutError", (_engine.AefiError, TimeoutError)),
        ("PlanError", (_engine.AefiError, ValueError)),
        ("InvalidArgumentError", (_engine.AefiError, ValueError)),
        ("SimulatorError", (_engine.AefiError, OSError)),
        ("ScanAbortedError", (_engine.AefiError,)),
        ("ScanStateError", (_engine.AefiError,)),
    ],
)
def test_bases(name, bases):
    assert all(issubclass(EXCEPTIONS[name], base) for base in bases)


def test_timeouts_are_aefi_errors_and_timeout_errors():
    ctrl = _engine.ArcusController("sim://errors-wait?timing=none")
    ctrl.jog("X")
    with pytest.raises(_engine.WaitTimeoutError) as info:
        ctrl.wait_idle("X", timeout_s=0.05)
    assert isinstance(info.value, TimeoutError) and isinstance(info.value, _engine.AefiError)
    ctrl.abort()
    url = "sim://errors-drop?timing=none"
    ctrl = _engine.ArcusController(url, timeout_s=0.05)
    _engine.sim_inject_fault(url, "drop")
    with pytest.raises(TimeoutError):
        ctrl.position("X")


def test_refusals_before_sending_are_invalid_argument_errors():
    with pytest.raises(_engine.InvalidArgumentError, match="unknown scheme"):
        _engine.ArcusController("ftp://nowhere")
    ctrl = _engine.ArcusController("sim://errors-args?timing=none")
    with pytest.raises(_engine.InvalidArgumentError, match="mode"):
        ctrl.home("X", mode=9)


def test_controller_refusal_carries_its_code():
    ctrl = _engine.ArcusController("sim://errors-code?timing=none")
    with pytest.raises(_engine.ControllerError) as info:
        ctrl.query("ID")
    assert info.value.code == "ID" and info.value.axis is None
