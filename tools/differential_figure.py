"""The differential map of README.md (docs/img/differential_map.png), from a run on the simulated bench.

Flies the demo raster of `aefi-flyscan` (8 lines of 60 mm at 20 mm/s, the board at one average) with
`--differential` on a simulated board whose every channel carries an offset of 20 mV and a drift of
0.2 mV/s, excitation on or off: the baseline the bench's detection chain adds to the field. Draws the
excited map, the baseline, their difference and the difference's error against the known field (channel
z_in_phase), and prints the figures README.md quotes:

    .venv/bin/python tools/differential_figure.py [--out docs/img/differential_map.png]

PyMoDAQ's configuration (the bench's axis speeds) is read from a throw-away HOME created from the
package's template, so the user's own is neither used nor touched.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OFFSET_UV, DRIFT_UV_PER_S, SEED = 20_000.0, 200.0, 11
URL = f"sim://differential-figure?baud=9600&timing=wire&board_offset_uv={OFFSET_UV:g}&board_drift_uv_per_s={DRIFT_UV_PER_S:g}"


def _sandbox() -> None:
    home = Path(tempfile.mkdtemp(prefix="aefi-figure-"))
    (home / ".pymodaq" / "config").mkdir(parents=True)
    (home / ".pymodaq" / "config" / "utils.toml").write_text("[backup]\nkeep_backup = false\n")
    os.environ["HOME"] = str(home)


def cell_time_gap_s(results) -> np.ndarray:
    """For every map cell with both: mean time of its baseline samples − mean time of its excited ones (s)."""
    from pymodaq_plugins_aefi.domain.gridding import grid_samples

    def mean_t(raw):
        t = (raw.t_ns - results.raw.t_ns.min()).astype(np.float64) * 1e-9
        grid = grid_samples(raw.fast_mm, raw.slow_mm, np.repeat(t[:, None], 6, axis=1),
                            results.map.fast_axis_mm, results.map.slow_axis_mm)
        return grid.volts[0]

    gap = mean_t(results.baseline_raw) - mean_t(results.raw)
    return gap[np.isfinite(gap)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "differential_map.png")
    args = parser.parse_args(argv)
    _sandbox()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pymodaq_plugins_aefi.adapters.flyscan_viewers import LastResultsRepository
    from pymodaq_plugins_aefi.bootstrap import bench_speeds, build_flyscan
    from pymodaq_plugins_aefi.cli.flyscan import DEFAULTS, simulated_board_url, truth_map_on
    from pymodaq_plugins_aefi.domain.config import FlyScanConfig
    from pymodaq_plugins_aefi.domain.measurement import CHANNEL_NAMES
    from pymodaq_plugins_aefi.domain.quality import relative_rms_error

    values = {k: v for k, v in DEFAULTS.items() if k not in ("sample_rate_hz", "trigger")}
    config = FlyScanConfig(**{**values, "seed": SEED, "differential": True}, detector="board", trigger="continuous")
    app = build_flyscan(URL, simulated_board_url(URL), repository=LastResultsRepository(), speeds=bench_speeds())
    results = app.service.run_study(config).results
    if results.baseline is None:
        print(f"the scan ended {results.status.value} without a baseline: {results.error}", file=sys.stderr)
        return 1
    truth = truth_map_on(config, results.map.fast_axis_mm, results.map.slow_axis_mm)
    c = CHANNEL_NAMES.index("z_in_phase")
    map_err, diff_err = relative_rms_error(results.map.volts, truth), relative_rms_error(results.difference_volts,
                                                                                         truth)
    gap = cell_time_gap_s(results)
    duration_s = (max(results.raw.t_ns.max(), results.baseline_raw.t_ns.max()) - results.raw.t_ns.min()) * 1e-9
    x = results.stats["excitation"]
    print(f"differential scan: {config.lines} map lines, {results.stats['flights']} flown, {results.samples} "
          f"excited + {len(results.baseline_raw)} baseline samples in {results.stats['wall_time_s']:.1f} s; "
          f"{x['mutes']} mutes, {x['unmutes']} unmutes, excitation restored: {x['restored']}")
    print(f"board offset {OFFSET_UV / 1e3:g} mV, drift {DRIFT_UV_PER_S / 1e3:g} mV/s; baseline z_in_phase mean "
          f"{1e3 * np.nanmean(results.baseline_volts[c]):.2f} mV, range "
          f"{1e3 * np.nanmin(results.baseline_volts[c]):.2f}..{1e3 * np.nanmax(results.baseline_volts[c]):.2f} mV")
    print(f"RMS error vs the field (% of its range): excited map {100 * map_err:.2f} %, "
          f"excited − baseline {100 * diff_err:.2f} %")
    print(f"time between a cell's excited and baseline samples: median {np.median(gap):.2f} s, max "
          f"{np.max(np.abs(gap)):.2f} s (interleaved); a full baseline pass after the map would put them "
          f"~{duration_s / 2:.0f} s apart, {DRIFT_UV_PER_S * duration_s / 2 / 1e3:.1f} mV of drift at this rate")

    grid = results.map
    half_fast, half_slow = config.fast_pitch_mm / 2, config.slow_pitch_mm / 2
    extent = (grid.fast_axis_mm.min() - half_fast, grid.fast_axis_mm.max() + half_fast,
              grid.slow_axis_mm.min() - half_slow, grid.slow_axis_mm.max() + half_slow)
    error = results.difference_volts[c] - truth[c]
    panels = [
        ("excited (field + offset + drift)", 1e3 * grid.volts[c], "viridis", None),
        ("baseline (excitation muted)", 1e3 * results.baseline_volts[c], "viridis", None),
        ("excited − baseline", 1e3 * results.difference_volts[c], "viridis", None),
        ("(excited − baseline) − field", 1e3 * error, "RdBu_r", float(np.nanmax(np.abs(1e3 * error)))),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.4))
    for ax, (title, image, cmap, lim) in zip(axes, panels, strict=True):
        kwargs = dict(vmin=-lim, vmax=lim) if lim else {}
        shown = ax.imshow(image, origin="lower", extent=extent, aspect="equal", cmap=cmap, interpolation="nearest",
                          **kwargs)
        ax.set_title(title)
        ax.set_xlabel(f"{config.fast_axis} (mm)")
        ax.set_ylabel(f"{config.slow_axis} (mm)")
        fig.colorbar(shown, ax=ax, label="z_in_phase (mV)", shrink=0.8)
    fig.suptitle(f"differential flyscan on the simulator: {config.lines}×{config.points_per_line} at "
                 f"{config.speed_mm_s:g} mm/s, board offset {OFFSET_UV / 1e3:g} mV + drift {DRIFT_UV_PER_S / 1e3:g} "
                 f"mV/s — RMS error vs field {100 * map_err:.2f} % → {100 * diff_err:.2f} % of range")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
