"""`aefi-bench daq`: the simulated NI-DAQmx detector, SYN start against software start.

Both fly the same raster at the bench's full speed (HS 1500 pulses/s = 32.7 mm/s) with the simulated
DAQ at 10 kHz on one in-process simulated bench (`sim://`, wire-timed Arcus). For each start:

- the map's RMS error against the field map, as a fraction of the field's range;
- the position error of every sample: the engine's position against the simulator's truth at the
  instant the sample really was taken (the DAQ's clock start + index / rate), p50/p99 in steps;
- the sample-time error: the instant each sample was placed at minus the instant it was taken. A
  line's samples share it (the sample clock is exact): 0 by construction with the SYN start (the
  clock starts on the SYN edge), the software start's lateness otherwise.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any, Optional

from ..domain.config import FlyScanConfig
from .flyscan import build_stats, daq_sample_shifts_ns, truth_map

#: The bench's speeds: HS 1500 pulses/s (full speed), LS 10, 100 ms ramps.
FULL_SPEED_PPS = 1500.0
DAQ_RATE_HZ = 10_000.0
STARTS = ("syn", "software")


def daq_config(start: str, quick: bool = False) -> FlyScanConfig:
    """The raster over the sample's features at full speed, the simulated DAQ at 10 kHz."""
    step_mm = 0.0218
    lines, y = (2, (30.0, 40.0)) if quick else (8, (16.0, 58.0))
    x = (24.0, 54.0) if quick else (14.0, 74.0)
    return FlyScanConfig(fast_start_mm=x[0], fast_stop_mm=x[1], slow_start_mm=y[0], slow_stop_mm=y[1], lines=lines,
                         points_per_line=int(round(x[1] - x[0])) + 1, speed_mm_s=FULL_SPEED_PPS * step_mm,
                         sample_rate_hz=DAQ_RATE_HZ, detector="daqmx_sim", trigger="hardware",
                         daq_start_trigger=start, seed=1)


def bench_url(name: str) -> str:
    """A wire-timed simulated bench at the bench's speeds."""
    from .. import _engine

    url = f"sim://{name}?baud=9600&timing=wire"
    with _engine.ArcusController(url) as arcus:
        arcus.query("HS=1500")
        arcus.query("LS=10")
        for axis in ("X", "Y"):
            arcus.set_speeds(axis, accel_ms=100, decel_ms=100)
    return url


def daq_figures(results: Any, url: str, feed: Any, true_starts: dict[int, int]) -> dict[str, Any]:
    """The figures of one simulated-DAQ flyscan: `feed` is the feeder's report, `true_starts` the
    simulated DAQ's truth (line → its clock's true start, ns)."""
    shifts = daq_sample_shifts_ns(feed, true_starts)
    stats = build_stats(results, url, True, truth_map(results), None, shifts)
    return {
        "start": results.config.daq_start_trigger,
        "status": stats["status"],
        "lines": stats["lines"],
        "samples": stats["samples"],
        "rate_hz": results.config.sample_rate_hz,
        "speed_mm_s": results.config.speed_mm_s,
        "map_rms_error_rel": stats["map_rms_error_rel"],
        "position_error_steps": stats["position_error_steps"],
        "sample_time_error_us": stats["daq_sample_time_error_us"],
    }


def daq_run(start: str, quick: bool = False, url: Optional[str] = None) -> dict[str, Any]:
    """One flyscan with the simulated DAQ started by `start`; its figures."""
    from ..bootstrap import build_flyscan

    url = url or bench_url(f"aefi-bench-daq-{start}")
    config = daq_config(start, quick)
    with tempfile.TemporaryDirectory() as tmp:
        app = build_flyscan(url, out_dir=tmp, file_name="scan.h5")
        results = app.service.run_study(config).results
    port = app.scan_port
    feed = port.last_daq  # type: ignore[attr-defined]
    if feed is None or feed.error is not None:
        raise RuntimeError(f"the simulated DAQ failed: {getattr(feed, 'error', 'no feed')}")
    true_starts = port.last_daq_truth.starts  # type: ignore[attr-defined]
    return daq_figures(results, url, feed, true_starts)


def daq_comparison(quick: bool = False, progress: Callable[[str], None] = lambda _: None) -> list[dict[str, Any]]:
    rows = []
    for start in STARTS:
        progress(f"daq: {start} start, {DAQ_RATE_HZ:g} Hz at {FULL_SPEED_PPS:g} pulses/s")
        rows.append(daq_run(start, quick))
    return rows


def render_daq(rows: list[dict[str, Any]]) -> str:
    out = [f"simulated DAQ at {DAQ_RATE_HZ / 1e3:g} kHz, full speed ({FULL_SPEED_PPS:g} pulses/s):",
           f"  {'start':<9} {'samples':>8} {'map RMS':>9} {'pos err p50/p99 (steps)':>24} "
           f"{'sample-time err p50/p99/max (µs)':>34}"]
    for r in rows:
        pe, te = r["position_error_steps"] or {}, r["sample_time_error_us"] or {}
        rms = r["map_rms_error_rel"]
        out.append(f"  {r['start']:<9} {r['samples']:>8} {'n/a' if rms is None else f'{100 * rms:.2f} %':>9} "
                   f"{pe.get('p50', float('nan')):>11.3f}/{pe.get('p99', float('nan')):<12.3f} "
                   f"{te.get('p50', float('nan')):>14.1f}/{te.get('p99', float('nan')):.1f}/"
                   f"{te.get('max', float('nan')):.1f}")
    return "\n".join(out)
