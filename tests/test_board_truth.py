"""The board path checked against the simulator's truth, as the virtual probe is: each sample's position
at the middle of its averaging window, and the map against the field map, at the demo's speed for
n = 1, 10 and 127 averages; the figures of the back-to-back cadence."""
import itertools

import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.bootstrap import build_flyscan
from pymodaq_plugins_aefi.cli.flyscan import DEFAULTS, build_stats, truth_map
from pymodaq_plugins_aefi.domain.config import FlyScanConfig

pytestmark = pytest.mark.slow
_BENCHES = itertools.count()

#: Position error (steps, p99) and map RMS error (fraction of the field's range) each n must stay under.
#: The window grows with n (0.24, 2.4, 30 ms) and the map's cells get fewer, wider-smeared samples.
BOUNDS = {1: (0.5, 0.01), 10: (0.5, 0.01), 127: (1.0, 0.03)}


@pytest.mark.parametrize("n_avg", [1, 10, 127])
def test_board_samples_and_map_match_the_simulators_truth_at_the_default_speed(tmp_path, n_avg):
    name = f"board-truth{next(_BENCHES)}"
    arcus_url, board_url = f"sim://{name}?baud=9600&timing=wire", f"sim://{name}"
    config = FlyScanConfig(fast_start_mm=24.0, fast_stop_mm=54.0, slow_start_mm=30.0, slow_stop_mm=40.0, lines=2,
                           points_per_line=31, speed_mm_s=DEFAULTS["speed_mm_s"], detector="board",
                           trigger="continuous", board_n_avg=n_avg, seed=7)
    app = build_flyscan(arcus_url, board_url, out_dir=tmp_path, file_name="scan.h5")
    results = app.service.run_study(config).results
    assert results.status.value == "completed", results.error
    stats = build_stats(results, arcus_url, True, truth_map(results), board_url)

    # the cadence's figures: no trigger schedule, the rate against the timing model's limit
    assert stats["cadence"] == "back_to_back"
    assert stats["trigger_lateness_us"] is None and stats["missed_triggers"] is None
    limit_hz = 1e9 / _engine.board_round_trip_model_ns(n_avg)
    assert stats["detector_rate_limit_hz"] == pytest.approx(limit_hz, rel=1e-6)
    assert 0.8 * limit_hz < stats["detector_rate_hz"] <= 1.02 * limit_hz
    assert stats["sample_interval_us"]["p50"] == pytest.approx(1e6 / limit_hz, rel=0.1)
    window_s = _engine.board_window_model_ns(n_avg) * 1e-9
    assert stats["smear_mm"] == pytest.approx(config.speed_mm_s * window_s, rel=0.01)
    cells = stats["samples_per_cell"]
    assert cells["mean"] == pytest.approx(config.fast_pitch_mm * limit_hz / config.speed_mm_s, rel=0.2)

    # the truth checks
    max_position_p99, max_map_rms = BOUNDS[n_avg]
    assert stats["position_error_steps"]["p99"] < max_position_p99, stats["position_error_steps"]
    assert stats["map_rms_error_rel"] < max_map_rms, stats["map_rms_error_rel"]
