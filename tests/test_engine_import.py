import sys
import time

from pymodaq_plugins_aefi import _engine


def test_engine_clock_is_monotonic_and_matches_python_on_linux():
    # Python stamps with _engine.now_ns(); on Linux that is CLOCK_MONOTONIC, the clock of
    # time.monotonic_ns(), so stamps of a simulator in another process compare directly.
    stamps = [_engine.now_ns() for _ in range(1000)]
    assert stamps == sorted(stamps)
    if sys.platform.startswith("linux"):
        before = time.monotonic_ns()
        stamp = _engine.now_ns()
        after = time.monotonic_ns()
        assert before <= stamp <= after


def test_engine_version_matches_package():
    import pymodaq_plugins_aefi

    assert _engine.__version__ == pymodaq_plugins_aefi.__version__
