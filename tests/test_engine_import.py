import time

from pymodaq_plugins_aefi import _engine


def test_engine_clock_is_python_monotonic_clock():
    # Every stamp the engine makes must be comparable with Python's monotonic clock.
    before = time.monotonic_ns()
    stamp = _engine.mono_ns()
    after = time.monotonic_ns()
    assert before <= stamp <= after


def test_engine_version_matches_package():
    import pymodaq_plugins_aefi

    assert _engine.__version__ == pymodaq_plugins_aefi.__version__
