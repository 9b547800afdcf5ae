"""`aefi-flyscan` with the fast axis' encoder on the simulator: the file's encoder column against the
simulator's true counts, the SYN start of every line against its true firing, and a stalled motor
ending the scan failed (lost steps) with the lines flown so far saved."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pymodaq_plugins_aefi import _engine
from pymodaq_plugins_aefi.adapters.h5_repository import H5LineJournal, load_journal, load_results
from pymodaq_plugins_aefi.cli import flyscan as cli
from pymodaq_plugins_aefi.domain.config import FlyScanConfig
from pymodaq_plugins_aefi.domain.errors import InvalidScanConfig
from pymodaq_plugins_aefi.domain.events import FlyScanLineSamples
from pymodaq_plugins_aefi.domain.fly_scan import ScanStatus
from pymodaq_plugins_aefi.domain.samples import RawSamples

#: AMT112Q: 2048 lines decoded 4x on a 3200-step motor turn.
COUNTS_PER_STEP = 2.56
SMALL = ["--lines", "3", "--points-per-line", "31", "--fast-start-mm", "20", "--fast-stop-mm", "50",
         "--slow-start-mm", "25", "--slow-stop-mm", "45", "--detector", "virtual_probe", "--no-progress"]


def _fly(out: Path, url: str, *extra: str) -> int:
    return cli.main(["--out", str(out), "--port", url, "--encoder-counts-per-step", str(COUNTS_PER_STEP),
                     *SMALL, *extra])


@pytest.mark.slow
def test_the_file_holds_the_encoder_at_every_sample_and_each_line_its_syn_start(tmp_path: Path) -> None:
    url = "sim://py-encoder-flyscan?baud=9600&timing=wire&encoder_ppr=X=2048:3200"
    assert _fly(tmp_path, url) == 0
    results = load_results(tmp_path / "scan.h5")
    raw = results.raw
    assert results.status is ScanStatus.COMPLETED and results.config.encoder_counts_per_step == COUNTS_PER_STEP
    assert len(raw) > 1000 and np.isfinite(raw.encoder_counts).all()
    true_counts = _engine.sim_truth_encoder(url, "X", np.ascontiguousarray(raw.t_ns))
    errors = np.abs(raw.encoder_counts - true_counts)
    # A count is 1/2.56 step; the fit of ~40 readings a second holds the motion well within one.
    assert np.percentile(errors, 99) < 1.0, np.percentile(errors, [50, 99])
    # The positions are the encoder's, in steps: the same motion in the two columns.
    steps = raw.fast_mm / results.config.scale.step_mm
    slope, _ = np.polyfit(steps, raw.encoder_counts, 1)
    assert slope == pytest.approx(COUNTS_PER_STEP, rel=1e-6)
    true_steps = _engine.sim_truth(url, "X", np.ascontiguousarray(raw.t_ns))
    assert np.percentile(np.abs(steps - true_steps), 99) < 0.5

    # One SYN firing per line, at the encoder count of the line's first grid point, stamped within its bound.
    line_times = results.stats["line_times"]
    events = [e for e in _engine.sim_sync_events(url) if e["axis"] == "X"]
    assert len(line_times) == len(events) == 3
    for line, event in zip(line_times, events, strict=True):
        assert line["syn_position_counts"] == event["position_counts"]
        first_mm = 20.0 if line["line"] % 2 == 0 else 50.0
        assert abs(line["syn_position_steps"] * results.config.scale.step_mm - first_mm) < 0.03
        assert abs(line["syn_t_ns"] - event["t_ns"]) <= line["syn_err_ns"] + 200_000
        assert line["syn_waiting_ns"] <= event["t_ns"] <= line["syn_seen_ns"] + 2_000_000
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["stall_detection"] == "encoder"
    assert stats["encoder_error_counts"]["p99"] < 1.0
    assert stats["syn"]["lines"] == 3 and stats["syn"]["stamp_error_us"]["p99"] < 2000


@pytest.mark.slow
def test_a_stalled_motor_ends_the_scan_failed_with_lost_steps_and_keeps_the_lines_flown(tmp_path: Path) -> None:
    # The motor stalls 4 s after power-up (the first open of the link), mid-scan: its pulses go on.
    url = "sim://py-encoder-stall-cli?baud=9600&timing=wire&encoder_ppr=X=2048:3200&stall=X=4"
    assert _fly(tmp_path, url) == cli.EXIT_FAILED
    results = load_results(tmp_path / "scan.h5")
    assert results.status is ScanStatus.FAILED and results.partial
    # The engine's ControllerError(code="SLIP"), with the axis and the steps lost.
    error = results.error or ""
    assert error.startswith("ControllerError: axis X:") and "steps lost" in error, error
    raw = results.raw
    assert len(raw) > 100 and np.isfinite(raw.encoder_counts).all()
    assert 0 < results.lines_done < 3 or any(line.partial for line in results.lines)
    # What was saved was taken before the stall was seen: the encoder column follows the true count.
    true_counts = _engine.sim_truth_encoder(url, "X", np.ascontiguousarray(raw.t_ns))
    assert np.percentile(np.abs(raw.encoder_counts - true_counts), 50) < 1.0


def test_no_encoder_by_default_and_a_negative_ratio_is_refused() -> None:
    config = FlyScanConfig(20, 50, 25, 45, 3, 31, 20.0)
    assert config.encoder_counts_per_step == 0.0 and config.stall_detection == "unavailable"
    with pytest.raises(InvalidScanConfig) as err:
        FlyScanConfig(20, 50, 25, 45, 3, 31, 20.0, encoder_counts_per_step=-1.0)
    assert err.value.field == "encoder_counts_per_step"
    args = cli._parser().parse_args(["--encoder-counts-per-step", "2.56"])
    assert cli._config(args, simulated=True).encoder_counts_per_step == 2.56


def test_the_line_journal_keeps_the_encoder_column(tmp_path: Path) -> None:
    config = FlyScanConfig(20, 50, 25, 45, 1, 31, 20.0, encoder_counts_per_step=COUNTS_PER_STEP)
    n = 40
    samples = RawSamples(seq=np.arange(n), t_ns=np.arange(n) * 1_000_000, line=np.zeros(n),
                         fast_mm=np.linspace(20, 50, n), slow_mm=np.full(n, 25.0), pos_err_mm=np.zeros(n),
                         flags=np.zeros(n), channels_volts=np.zeros((n, 6)),
                         encoder_counts=np.linspace(2348.6, 5871.6, n))
    journal = H5LineJournal(tmp_path / "journal.h5", "scan-enc", config)
    try:
        journal.on_event(FlyScanLineSamples(scan_id="scan-enc", line=0, samples=samples, partial=False))
    finally:
        journal.close()
    assert journal.error is None
    back = load_journal(tmp_path / "journal.h5")
    np.testing.assert_array_equal(back.raw.encoder_counts, samples.encoder_counts)
    # Without an encoder the column is NaN, never zeros that would pass for a reading.
    assert np.isnan(RawSamples.concat([RawSamples.empty(), back.raw.select(np.zeros(n, bool))]).encoder_counts).all()


def test_the_viewers_offer_the_encoder_setting_off_by_default() -> None:
    from pymodaq_plugins_aefi.adapters.flyscan_viewers import flyscan_params, flyscan_request, viewer_defaults

    defaults = viewer_defaults()
    assert defaults["encoder_counts_per_step"] == 0.0  # shipped: no encoder, nothing changes
    for raster in (True, False):
        (param,) = [p for p in flyscan_params(raster, defaults) if p["name"] == "encoder_counts_per_step"]
        assert param["value"] == 0.0 and param["min"] == 0.0 and "counts/step" in param["title"]
    settings = {**defaults, "trigger": "software", "pattern": "serpentine", "encoder_counts_per_step": 2.56}
    request = flyscan_request(settings, raster=True)
    assert FlyScanConfig.from_dict(request).encoder_counts_per_step == 2.56
