"""The detection chain of the simulated board and the lag it gives a flyscan, on the real simulators.

The board's chain: a first-order low-pass of `filter_tau_ms` on the demodulated outputs, then the
ADS131A04 sinc³ filter's group delay, 3(OSR − 1)/2 modulator periods (fMOD = 16.384 MHz / 2 / 2 at the
bench's settings: 1.4996 ms at OSR 4096). Muting the sources decays through the same low-pass. A
serpentine flown with it shows the comb; the lag measured from the data undoes it, and
`aefi-flyscan regrid` re-grids the file's raw stream into a new file.
"""
import hashlib
import itertools
import math
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from pymodaq_data.h5modules.data_saving import DataLoader

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.h5_repository import load_results
from pymodaq_plugins_aefi.bootstrap import bench_speeds, build_flyscan
from pymodaq_plugins_aefi.cli import board_sim, flyscan
from pymodaq_plugins_aefi.cli.flyscan import build_stats, truth_map
from pymodaq_plugins_aefi.domain.config import FlyScanConfig

_NAMES = itertools.count()
STEP_MM = 0.0218
TAU_MS = 20.0
ADC_DELAY_MS = 1.5 * (4096 - 1) / (16.384e6 / 2 / 2) * 1e3  # the datasheet's sinc³ at the bench's clocks
NOISE_VOLTS = 300e-6  # one conversion, 1 sigma
Z_IN_PHASE = 4


def _name(prefix):
    return f"{prefix}{next(_NAMES)}"


def test_the_sim_option_gives_the_board_its_chain_and_the_truth_its_lag():
    url = f"sim://{_name('lag-option')}?timing=none&filter_tau_ms={TAU_MS:g}"
    with _engine.BoardController(url) as board:
        board.measure_timed(1)
    lag_ns = _engine.sim_board_truth(url)["lag_ns"]
    assert lag_ns.size == 1 and lag_ns[0] == round(TAU_MS * 1e6 + ADC_DELAY_MS * 1e6)
    plain = f"sim://{_name('lag-option')}?timing=none"
    with _engine.BoardController(plain) as board:
        board.measure_timed(1)
    assert _engine.sim_board_truth(plain)["lag_ns"][0] == 0, "no chain by default: an ideal detector"
    for bad in ("-1", "abc", "20000"):
        with pytest.raises(_engine.InvalidArgumentError, match="filter_tau_ms"):
            _engine.BoardController(f"sim://{_name('lag-option')}?filter_tau_ms={bad}")


def _decay_bounds(on, measured, t_change_from_ns, t_change_to_ns, rising):
    """The reading's bounds: the gains changed between the two stamps, the conversion was made
    between the measurement's send and receive stamps, one ADC group delay earlier."""
    delay_ns = ADC_DELAY_MS * 1e6
    earliest = (measured["t_send_ns"] - delay_ns - t_change_to_ns) * 1e-6  # ms since the change, at least
    latest = (measured["t_recv_ns"] + measured["window_ns"] - delay_ns - t_change_from_ns) * 1e-6  # at most
    a, b = math.exp(-max(earliest, 0.0) / TAU_MS), math.exp(-latest / TAU_MS)
    low, high = (on * (1 - a), on * (1 - b)) if rising else (on * b, on * a)
    return min(low, high), max(low, high)


def test_muting_the_sources_decays_through_the_same_low_pass():
    name = _name("lag-mute")
    url = f"sim://{name}?timing=none&filter_tau_ms={TAU_MS:g}"
    with _engine.ArcusController(url) as arcus:
        arcus.set_position("X", round(38.0 / STEP_MM))  # the probe on the strongest feature
        arcus.set_position("Y", round(32.0 / STEP_MM))
    tolerance = 6 * NOISE_VOLTS
    with _engine.BoardController(f"sim://{name}?timing=none&filter_tau_ms={TAU_MS:g}") as board:
        time.sleep(15 * TAU_MS * 1e-3)  # settled on the feature: e^−15 of the move left
        on = board.measure_timed(1)["volts"][Z_IN_PHASE]
        assert on > 0.5
        for gains, rising in (((0, 0, 10_000, 10_000), False), ((10_000, 10_000, 10_000, 10_000), True)):
            time.sleep(15 * TAU_MS * 1e-3)  # the previous change settled: each phase starts from a steady state
            t_from = time.monotonic_ns()
            board.configure(dds_gains=gains, dds_phases=(0, 32_768, 16_384, 0))
            t_to = time.monotonic_ns()
            seen = []
            for _ in range(12):
                time.sleep(0.004)
                m = board.measure_timed(1)
                low, high = _decay_bounds(on, m, t_from, t_to, rising)
                seen.append(m["volts"][Z_IN_PHASE])
                assert low - tolerance <= seen[-1] <= high + tolerance, (rising, seen[-1], low, high)
            # over ≥ 48 ms (2.4 τ) the output moved most of the way, monotonically
            steps = np.diff(seen)
            assert (steps >= -tolerance).all() if rising else (steps <= tolerance).all()
            assert abs(seen[-1] - seen[0]) > 0.3 * on


def test_aefi_board_sim_help_states_the_filter_default_and_that_the_real_value_is_unknown():
    text = " ".join(board_sim.build_parser().format_help().split())
    assert "--filter-tau-ms" in text and "default 0" in text and "unknown" in text
    assert "group delay" in text and "SBAS590E" in text


# ---- a serpentine flown with the chain ------------------------------------------------------------
SPEED_MM_S = 30.0  # the bench's speed; the scan applies the configured axis speeds (HS 1500 pps = 32.7 mm/s)


@pytest.fixture(scope="module")
def lagged_scan(tmp_path_factory):
    """Six lines 3 mm apart over the strongest features, the board's low-pass at 20 ms."""
    name = _name("lag-scan")
    arcus_url = f"sim://{name}?baud=9600&timing=wire"
    board_url = f"sim://{name}?filter_tau_ms={TAU_MS:g}"  # the board's options come with its link
    config = FlyScanConfig(fast_start_mm=24.0, fast_stop_mm=54.0, slow_start_mm=22.0, slow_stop_mm=37.0, lines=6,
                           points_per_line=31, speed_mm_s=SPEED_MM_S, detector="board", trigger="continuous", seed=3)
    out = tmp_path_factory.mktemp("lag-scan")
    app = build_flyscan(arcus_url, board_url, out_dir=out, file_name="scan.h5", speeds=bench_speeds())
    outcome = app.service.run_study(config)
    results = outcome.results
    assert results.status.value == "completed", results.error
    stats = build_stats(results, arcus_url, True, truth_map(results), board_url)
    return results, stats, outcome.location


@pytest.mark.slow
def test_the_measured_lag_compensates_the_comb(lagged_scan):
    results, stats, _ = lagged_scan
    true_lag_ms = stats["detector_lag_true_ms"]
    assert true_lag_ms == pytest.approx(TAU_MS + ADC_DELAY_MS, abs=1e-6)
    assert stats["detector_lag_source"] == "estimated" and stats["detector_lag_applied"]
    assert stats["detector_lag_lines"] == 4 and stats["detector_lag_uncertainty_ms"] is not None
    assert stats["detector_lag_ms"] == pytest.approx(true_lag_ms, rel=0.15), stats
    # placed at t − lag the map matches the field; at the stamps each line is off by v·lag = 0.65 mm
    assert stats["map_rms_error_rel"] <= 0.01
    assert stats["map_rms_error_rel"] < 0.5 * stats["map_rms_error_rel_uncompensated"], stats


@pytest.mark.slow
def test_the_file_records_the_lag(lagged_scan):
    results, stats, location = lagged_scan
    assert load_results(location).lag == results.lag
    with DataLoader(Path(location)) as loader:
        group = next(node for node in loader.h5saver.get_children(loader.raw_group).values()
                     if node.attrs["TITLE"] == "AEFI flyscan")
        attrs = group.attrs.to_dict()
    assert attrs["detector_lag_ms"] == pytest.approx(stats["detector_lag_ms"])
    assert attrs["detector_lag_uncertainty_ms"] == pytest.approx(stats["detector_lag_uncertainty_ms"])
    assert attrs["detector_lag_source"] == "estimated" and attrs["detector_lag_applied"] is True


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_regrid_writes_a_new_file_from_the_raw_stream(lagged_scan, tmp_path, capsys):
    results, _, location = lagged_scan
    source = tmp_path / "scan.h5"
    source.write_bytes(Path(location).read_bytes())
    before = _digest(source)
    assert flyscan.main(["regrid", str(source), "--pitch-mm", "0.5"]) == 0
    finer_path = tmp_path / "scan-regrid-0.5mm-lagauto.h5"
    finer = load_results(finer_path)
    assert _digest(source) == before, "the source is never modified"
    assert finer.config.points_per_line == 61 and finer.map.volts.shape == (6, 6, 61)
    assert finer.lag.applied and finer.lag.lag_ms == pytest.approx(results.lag.lag_ms)
    assert len(finer.raw) == len(results.raw) and finer.stats["regridded_from"] == str(source)
    out = capsys.readouterr().out
    assert "61 cells" in out and "map RMS error" in out and str(finer_path) in out
    # another lag: 0 turns the compensation off, and the map gets the comb back
    plain_path = tmp_path / "plain.h5"
    assert flyscan.main(["regrid", str(source), "--lag-ms", "0", "-o", str(plain_path)]) == 0
    plain = load_results(plain_path)
    assert plain.lag.source == "configured" and not plain.lag.applied and plain.config.points_per_line == 31
    truth = truth_map(plain)
    errors = [np.sqrt(np.nanmean((r.map.volts - truth) ** 2)) for r in (results, plain)]
    assert errors[0] < 0.5 * errors[1]
    assert flyscan.main(["regrid", str(source), "-o", str(tmp_path / "." / "scan.h5")]) == 2
    assert "never overwritten" in capsys.readouterr().err
    assert _digest(source) == before


def test_regrid_refuses_what_it_cannot_read(tmp_path, capsys):
    missing = tmp_path / "none.h5"
    assert flyscan.main(["regrid", str(missing), "--pitch-mm", "1"]) == 2
    assert "no such file" in capsys.readouterr().err
    text = tmp_path / "notes.h5"
    text.write_text("not a scan")
    assert flyscan.main(["regrid", str(text)]) == 2
    assert "not an AEFI flyscan file" in capsys.readouterr().err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as file:
        file["x"] = np.arange(3)
    assert flyscan.main(["regrid", str(other)]) == 2
    assert "not an AEFI flyscan file" in capsys.readouterr().err
    assert text.read_text() == "not a scan"
