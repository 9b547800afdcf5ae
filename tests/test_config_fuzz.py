"""The plan validator under hostile input (hypothesis): whatever a user, a file or a GUI hands
FlyScanConfig, it either builds a config whose engine plan is sound, or raises InvalidScanConfig
naming the field, with a message. Never another exception type.

The `@example`s are the committed corpus: inputs that once raised something else (a TypeError, an
OverflowError) or sit on a boundary; they run first on every run, whatever the random draws.
Runs are derandomized: the same cases on every machine, no flaky CI, no local database.
"""
from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.rust_scan_adapter import build_plan
from pymodaq_plugins_aefi.domain import FlyScanConfig, InvalidScanConfig
from pymodaq_plugins_aefi.domain.config import DETECTORS

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

GOOD: dict[str, Any] = dict(fast_start_mm=10.0, fast_stop_mm=90.0, slow_start_mm=10.0, slow_stop_mm=70.0,
                            lines=13, points_per_line=81, speed_mm_s=20.0, sample_rate_hz=1000.0)
FIELDS = [f.name for f in fields(FlyScanConfig) if f.init]

hostile = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(2**70), max_value=2**70).map(lambda v: v * 2**60),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["X", "Y", "serpentine", "board", "continuous", "1e3", "nan", "", "x" * 1000]),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.builds(np.float32, st.floats(width=32)), st.builds(np.int64, st.integers(-(2**63), 2**63 - 1)),
    st.just(np.array([1.0, 2.0])), st.just(np.float64("nan")), st.just(object()), st.just(b"X"),
    st.complex_numbers(max_magnitude=10),
)
#: Plausible values, for the fields that need one for the validator to reach the next check.
plausible = {
    "fast_start_mm": st.floats(-10, 1300), "fast_stop_mm": st.floats(-10, 1300),
    "slow_start_mm": st.floats(-10, 1300), "slow_stop_mm": st.floats(-10, 1300),
    "lines": st.integers(0, 50), "points_per_line": st.integers(0, 500),
    "speed_mm_s": st.floats(0, 100), "sample_rate_hz": st.floats(0, 60_000),
    "fast_axis": st.sampled_from(["X", "Y", "Z", "U", "x"]), "slow_axis": st.sampled_from(["X", "Y", "Z", "U"]),
    "pattern": st.sampled_from(["serpentine", "unidirectional", "spiral"]),
    "trigger": st.sampled_from(["software", "continuous", "hardware"]),
    "detector": st.sampled_from([*DETECTORS, "lockin"]),
    "board_n_avg": st.integers(-1, 300), "settle_ms": st.floats(-1, 70_000),
    "step_um": st.floats(0.001, 2000), "travel_min_mm": st.floats(-2e9, 2e9), "travel_max_mm": st.floats(-2e9, 2e9),
    "max_speed_pps": st.floats(0, 1e8), "seed": st.integers(-1, 2**65),
    "differential": st.booleans(), "excitation_settle_ms": st.floats(-1, 20_000),
    "daq_channels": st.sampled_from(["Dev1/ai0:5", "Dev1/ai0:40", "Dev1/ai3:0", "ai0", "", "Dev1/ai0,Dev2/ai1", ":"]),
    "daq_range_v": st.floats(0, 20), "daq_start_trigger": st.sampled_from(["syn", "software", "edge"]),
    "daq_trigger_source": st.sampled_from(["/Dev1/PFI0", "", "  "]),
}


@st.composite
def config_kwargs(draw: st.DrawFn) -> dict[str, Any]:
    """A config's keyword arguments: each field good, plausible, hostile or left out."""
    values: dict[str, Any] = {}
    for name in FIELDS:
        kind = draw(st.sampled_from(["good", "plausible", "plausible", "hostile", "absent"]))
        if kind == "good" and name in GOOD:
            values[name] = GOOD[name]
        elif kind == "plausible":
            values[name] = draw(plausible.get(name, hostile))
        elif kind == "hostile":
            values[name] = draw(hostile)
        elif name in GOOD:
            values[name] = GOOD[name]
    return values


def assert_sound_plan(config: FlyScanConfig) -> None:
    """What build_plan hands the engine: whole steps inside the counter, finite rates."""
    plan = build_plan(config)
    for key in ("fast_start_steps", "fast_stop_steps", "slow_start_steps", "slow_stop_steps",
                "travel_min_steps", "travel_max_steps", "lines", "board_n_avg"):
        assert type(plan[key]) is int, (key, plan[key])
    for key in ("speed_pps", "sample_rate_hz", "settle_ms", "step_um"):
        assert isinstance(plan[key], float) and math.isfinite(plan[key]), (key, plan[key])
    for key in ("fast_start_steps", "fast_stop_steps", "slow_start_steps", "slow_stop_steps",
                "travel_min_steps", "travel_max_steps"):
        assert _engine.POSITION_MIN_STEPS <= plan[key] <= _engine.POSITION_MAX_STEPS, (key, plan[key])
    assert _engine.MIN_SPEED_PPS <= plan["speed_pps"] <= _engine.MAX_SPEED_PPS


def build_or_refuse(build: Any) -> None:
    try:
        config = build()
    except InvalidScanConfig as err:
        assert err.field and str(err).startswith(f"{err.field}: ") and len(str(err)) > len(err.field) + 2
        return
    assert_sound_plan(config)


@FUZZ
@given(config_kwargs())
@example({**GOOD, "speed_mm_s": 10**400})
@example({**GOOD, "fast_start_mm": 10**400})
@example({**GOOD, "lines": np.array([1, 2])})
@example({**GOOD, "pattern": ["serpentine"]})
@example({**GOOD, "pattern": {"a": 1}})
@example({**GOOD, "fast_axis": np.array(["X"])})
@example({**GOOD, "seed": 2**64})
@example({**GOOD, "seed": -1})
@example({**GOOD, "step_um": 0.01, "fast_stop_mm": 1200.0})
@example({**GOOD, "travel_min_mm": -1e300, "travel_max_mm": 1e300, "fast_start_mm": -1e12})
@example({**GOOD, "speed_mm_s": np.float32(20.0)})
@example({**GOOD, "lines": True})
@example({**GOOD, "max_speed_pps": 1e300, "speed_mm_s": 1e200, "sample_rate_hz": 50_000.0})
def test_any_keywords_build_or_refuse_with_the_projects_error(kwargs: dict[str, Any]) -> None:
    build_or_refuse(lambda: FlyScanConfig(**kwargs))


@FUZZ
@given(st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6), st.integers(), st.none()),
                       st.one_of(hostile, *plausible.values()), max_size=8).map(lambda d: {**GOOD, **d}))
@example({**GOOD, "lines": "abc"})
@example({**GOOD, "lines": float("nan")})
@example({**GOOD, "lines": float("inf")})
@example({**GOOD, "seed": "7"})
@example({**GOOD, "lines": 12.7})
@example({**GOOD, 3: 1, "x": 2})
@example({**GOOD, None: 1})
def test_any_mapping_builds_or_refuses_with_the_projects_error(values: dict[Any, Any]) -> None:
    build_or_refuse(lambda: FlyScanConfig.from_dict(values))


def test_a_rounded_whole_number_from_a_file_is_accepted_and_a_fraction_is_not() -> None:
    """from_dict reads files: 13.0 lines is 13 lines; 12.7 lines is not silently 12."""
    assert FlyScanConfig.from_dict({**GOOD, "lines": 13.0}).lines == 13
    with pytest.raises(InvalidScanConfig, match="lines"):
        FlyScanConfig.from_dict({**GOOD, "lines": 12.7})


def test_the_domains_controller_ranges_are_the_cores() -> None:
    from pymodaq_plugins_aefi.domain import config

    assert (config.POSITION_MIN_STEPS, config.POSITION_MAX_STEPS) == (_engine.POSITION_MIN_STEPS,
                                                                       _engine.POSITION_MAX_STEPS)
    assert config.CONTROLLER_SPEED_WINDOW_PPS == (_engine.MIN_SPEED_PPS, _engine.MAX_SPEED_PPS)


@pytest.mark.parametrize("overrides, field, words", [
    ({"travel_min_mm": -1e9}, "travel_min_mm",
     ["-1e+09 mm is -4.587e+10 steps at 21.8 µm/step", "32-bit position counter [-2147483648, 2147483647] steps",
      "±46815143.50 mm"]),
    ({"step_um": 0.01, "travel_max_mm": 30_000.0}, "travel_max_mm", ["3e+09 steps at 0.01 µm/step", "±21474.84 mm"]),
    ({"max_speed_pps": 7e6}, "max_speed_pps", ["7e+06 pps is outside the allowed range [1, 6e+06] pps"]),
])
def test_values_the_controller_cannot_represent_are_refused_naming_value_limit_and_unit(overrides, field, words):
    with pytest.raises(InvalidScanConfig) as info:
        FlyScanConfig(**{**GOOD, **overrides})
    assert info.value.field == field
    for w in words:
        assert w in str(info.value), str(info.value)
