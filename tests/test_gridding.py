"""Gridding with plain numbers: cells, means, counts, NaN holes, outside samples."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.domain import cell_index, grid_samples


def test_cell_index_half_pitch_boundaries_both_directions():
    centres = np.array([0.0, 1.0, 2.0])
    pos = np.array([-0.6, -0.4, 0.49, 0.51, 1.9, 2.49, 2.51, np.nan])
    assert cell_index(pos, centres).tolist() == [-1, 0, 0, 1, 2, 2, -1, -1]
    assert cell_index(pos, centres[::-1]).tolist() == [-1, 2, 2, 1, 0, 0, -1, -1]
    assert cell_index(np.array([3.0, 100.0, np.nan]), np.array([5.0])).tolist() == [0, 0, -1]
    with pytest.raises(ValueError):
        cell_index(pos, np.array([1.0, 1.0]))


def channels(values):
    values = np.asarray(values, dtype=float)
    return np.stack([values * (k + 1) for k in range(6)], axis=1)


def test_means_counts_and_holes():
    fast = np.array([0.1, -0.2, 1.0, 2.2, 0.0, 5.0])
    slow = np.array([0.0, 0.1, 0.0, 0.0, 10.0, 0.0])
    values = [1.0, 3.0, 5.0, 7.0, 9.0, 100.0]
    g = grid_samples(fast, slow, channels(values), np.array([0.0, 1.0, 2.0]), np.array([0.0, 10.0]))
    assert g.shape == (2, 3)
    assert g.counts.tolist() == [[2, 1, 1], [1, 0, 0]]
    assert g.volts[0, 0].tolist() == [2.0, 5.0, 7.0]
    assert g.volts[5, 0].tolist() == [12.0, 30.0, 42.0]
    assert g.volts[0, 1, 0] == 9.0 and np.isnan(g.volts[:, 1, 1:]).all()
    assert g.outside == 1  # the sample at 5 mm
    assert g.filled_fraction == pytest.approx(4 / 6)


def test_detector_faults_are_left_out():
    ch = channels([1.0, 2.0, 4.0])
    ch[1] = np.nan
    g = grid_samples(np.zeros(3), np.zeros(3), ch, np.array([0.0, 1.0]), np.array([0.0]))
    assert g.counts.tolist() == [[2, 0]] and g.volts[0, 0, 0] == 2.5


def test_length_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in length"):
        grid_samples(np.zeros(3), np.zeros(2), channels([1, 2, 3]), np.array([0.0, 1.0]), np.array([0.0]))


def test_quality_figures():
    from pymodaq_plugins_aefi.domain.quality import percentiles, relative_rms_error

    assert percentiles(np.array([np.nan])) is None
    p = percentiles(np.arange(101.0))
    assert p == {"p50": 50.0, "p99": 99.0}
    truth = np.array([[0.0, 10.0], [5.0, 5.0]])
    measured = np.array([[1.0, np.nan], [5.0, 4.0]])
    assert relative_rms_error(measured, truth) == pytest.approx(np.sqrt(2 / 3) / 10)
    assert relative_rms_error(np.full((2, 2), np.nan), truth) is None
    with pytest.raises(ValueError, match="flat"):
        relative_rms_error(measured, np.ones((2, 2)))
