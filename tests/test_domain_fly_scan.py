"""The FlyScan aggregate's life cycle, its events, and the measurement value object."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.domain import (
    CHANNEL_NAMES,
    AefiVoltageMeasurement,
    FlyScan,
    FlyScanConfig,
    InvalidTransition,
    LineState,
    ScanStatus,
)


def scan(lines=3):
    return FlyScan(FlyScanConfig(fast_start_mm=10, fast_stop_mm=30, slow_start_mm=5, slow_stop_mm=15,
                                 lines=lines, points_per_line=21, speed_mm_s=10))


def test_lines_are_laid_out_serpentine():
    s = scan()
    layout = [(line.slow_mm, line.fast_from_mm, line.fast_to_mm) for line in s.lines]
    assert layout == [(5, 10, 30), (10, 30, 10), (15, 10, 30)]
    assert all(line.state is LineState.PENDING for line in s.lines)
    assert s.id.startswith("scan_")


def test_line_states_go_forward_only():
    s = scan()
    started = s.start(t_ns=5)
    assert started.topic == "flyscanstarted" and started.lines_total == 3
    s.start_line(0)
    with pytest.raises(InvalidTransition, match="line 1 is PENDING"):
        s.line_acquired(1, 0, 10, 5)
    with pytest.raises(InvalidTransition, match="expected ACQUIRED"):
        s.line_correlated(0, np.zeros(21), np.zeros((6, 21)), np.zeros(21))
    acquired = s.line_acquired(0, 100, 200, 50)
    assert (acquired.line, acquired.samples, acquired.t_start_ns) == (0, 50, 100)
    correlated = s.line_correlated(0, np.arange(21.0), np.zeros((6, 21)), np.ones(21))
    assert correlated.slow_mm == 5 and s.lines[0].state is LineState.CORRELATED
    with pytest.raises(InvalidTransition, match="ends .* before it starts"):
        s.start_line(1)
        s.line_acquired(1, 300, 200, 5)


def test_complete_needs_every_line():
    s = scan(lines=2)
    s.start(0)
    with pytest.raises(InvalidTransition, match=r"lines \[0, 1\] not acquired"):
        s.complete(1.0)
    for i in range(2):
        s.start_line(i)
        s.line_acquired(i, 0, 1, 10)
    done = s.complete(2.5)
    assert s.status is ScanStatus.COMPLETED and done.samples == 20
    with pytest.raises(InvalidTransition):
        s.abort()


def test_abort_fails_the_line_in_flight_and_keeps_the_rest():
    s = scan()
    s.start(0)
    s.start_line(0)
    s.line_acquired(0, 0, 1, 7)
    s.start_line(1)
    aborted = s.abort("operator")
    assert [line.state for line in s.lines] == [LineState.ACQUIRED, LineState.FAILED, LineState.PENDING]
    assert (aborted.lines_done, aborted.samples, aborted.reason) == (1, 7, "operator")
    assert s.status is ScanStatus.ABORTED


def test_a_scan_runs_once():
    s = scan()
    s.start(0)
    with pytest.raises(InvalidTransition, match="runs once"):
        s.start(1)


def test_measurement_channels_in_engine_order():
    m = AefiVoltageMeasurement.from_volts([1, 2, 3, 4, 5, 6], t_ns=9)
    assert list(m) == [1, 2, 3, 4, 5, 6] and m.channel("z_in_phase") == 5 and m.t_ns == 9
    assert CHANNEL_NAMES[4] == "z_in_phase"
    np.testing.assert_array_equal(m.as_array(), np.arange(1.0, 7.0))
    with pytest.raises(ValueError, match="6 channels"):
        AefiVoltageMeasurement.from_volts([1, 2, 3])
    with pytest.raises(KeyError, match="unknown channel"):
        m.channel("w")


def test_channel_order_matches_the_engine():
    from pymodaq_plugins_aefi import _engine

    assert tuple(_engine.CHANNEL_NAMES) == CHANNEL_NAMES
