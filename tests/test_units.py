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


def test_the_step_size_is_the_engines_everywhere_it_is_repeated():
    # The core defines it (_engine.BENCH_STEP_UM); the pure domain (which may not import the engine)
    # and the user's config template repeat it: they must agree.
    import tomllib

    from pymodaq_plugins_aefi import _engine
    from pymodaq_plugins_aefi.domain.units import DEFAULT_STEP_UM
    from pymodaq_plugins_aefi.utils import RESOURCES

    template = tomllib.loads((RESOURCES / "config_template.toml").read_text())
    steps = [value for section in template.values() if isinstance(section, dict)
             for key, value in section.items() if key == "step_um"]
    assert DEFAULT_STEP_UM == _engine.BENCH_STEP_UM
    assert steps and all(value == _engine.BENCH_STEP_UM for value in steps)
