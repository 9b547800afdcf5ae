"""Correlation with plain numbers: the legacy constant-speed interpolation and the model placement."""
import numpy as np
import pytest

from pymodaq_plugins_aefi.domain import (
    FlyScan,
    FlyScanConfig,
    FlyScanCorrelationService,
    Placement,
    RawSamples,
    place_by_line_ends,
)


def test_line_end_interpolation_is_linear_in_time():
    t = np.array([100, 150, 200, 300])
    np.testing.assert_allclose(place_by_line_ends(t, 100, 300, 10.0, 30.0), [10.0, 15.0, 20.0, 30.0])
    np.testing.assert_allclose(place_by_line_ends(t, 100, 300, 30.0, 10.0), [30.0, 25.0, 20.0, 10.0])
    with pytest.raises(ValueError, match="after t_start_ns"):
        place_by_line_ends(t, 300, 300, 0.0, 1.0)


def line_samples(fast_mm, t_ns, values):
    n = len(fast_mm)
    return RawSamples(seq=np.arange(n), t_ns=t_ns, line=np.zeros(n), fast_mm=fast_mm, slow_mm=np.full(n, 5.0),
                      pos_err_mm=np.zeros(n), flags=np.zeros(n),
                      channels_volts=np.repeat(np.asarray(values, float)[:, None], 6, axis=1))


def test_service_places_by_model_or_by_line_ends():
    config = FlyScanConfig(fast_start_mm=0, fast_stop_mm=4, slow_start_mm=5, slow_stop_mm=5, lines=1,
                           points_per_line=5, speed_mm_s=1, sample_rate_hz=10)
    line = FlyScan(config).lines[0]
    # a line that slowed down in the middle: the model positions say so, the time stamps are even
    fast = np.array([0.0, 0.5, 1.0, 1.2, 1.4, 3.0, 4.0])
    t = np.arange(7) * 1_000_000
    samples = line_samples(fast, t, [0, 1, 2, 3, 4, 5, 6])
    model = FlyScanCorrelationService(config, Placement.ENGINE_MODEL).correlate(line, samples)
    np.testing.assert_array_equal(model.fast_mm, fast)
    assert model.counts.tolist() == [1, 4, 0, 1, 1]  # 0.5 mm is the 0/1 boundary: it goes up
    np.testing.assert_allclose(model.profile_volts[0], [0.0, 2.5, np.nan, 5.0, 6.0])
    ends = FlyScanCorrelationService(config, Placement.LINE_ENDS).correlate(line, samples)
    np.testing.assert_allclose(ends.fast_mm, np.linspace(0, 4, 7))
    assert ends.counts.tolist() == [1, 2, 1, 2, 1]


def test_serpentine_line_interpolates_from_its_own_start():
    config = FlyScanConfig(fast_start_mm=0, fast_stop_mm=4, slow_start_mm=0, slow_stop_mm=2, lines=2,
                           points_per_line=5, speed_mm_s=1, sample_rate_hz=10)
    back = FlyScan(config).lines[1]
    samples = line_samples(np.zeros(3), np.array([0, 5, 10]), [1, 2, 3])
    placed = FlyScanCorrelationService(config, "line_ends").place(back, samples)
    np.testing.assert_allclose(placed, [4.0, 2.0, 0.0])
