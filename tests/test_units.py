import pytest

from pymodaq_plugins_aefi.domain.units import StepScale


def test_bench_step_and_speed():
    s = StepScale()  # 21.8 µm per pulse
    assert s.to_steps(21.8) == 1000
    assert s.to_mm(1500) == pytest.approx(32.7)
    assert s.speed_to_pps(32.7) == pytest.approx(1500)


def test_rounds_instead_of_truncating():
    s = StepScale(21.8)
    assert s.to_steps(0.0218 * 10 - 1e-9) == 10


def test_refuses_nonsense_step():
    with pytest.raises(ValueError, match="step_um"):
        StepScale(0)
