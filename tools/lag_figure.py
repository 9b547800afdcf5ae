"""The comb artifact of a lagging detector, before and after compensation, for README.md.

Flies a serpentine raster on the embedded simulator whose board has a detection chain of
filter_tau_ms = 20 (a first-order low-pass on the demodulated outputs, plus the ADS131A04 filter's
group delay), grids the same raw stream twice — each sample at its stamped position, and at t − the
lag measured from the data — and draws both maps and their errors against the known field map
(docs/img/lag-comb.png). Prints the figures: the measured lag against the simulator's true lag and
the map RMS errors.

    .venv/bin/python tools/lag_figure.py [--speed-mm-s 30] [--filter-tau-ms 20] [--out docs/img/lag-comb.png]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed-mm-s", type=float, default=30.0,
                        help="fly speed (default 30: the bench's; the scan applies the configured axis speeds)")
    parser.add_argument("--filter-tau-ms", type=float, default=20.0)
    parser.add_argument("--lines", type=int, default=15)
    parser.add_argument("--channel", default="z_in_phase")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "lag-comb.png")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pymodaq_plugins_aefi.bootstrap import bench_speeds, build_flyscan
    from pymodaq_plugins_aefi.cli.flyscan import board_true_lag_ms, truth_map
    from pymodaq_plugins_aefi.domain.config import FlyScanConfig
    from pymodaq_plugins_aefi.domain.gridding import grid_samples
    from pymodaq_plugins_aefi.domain.measurement import CHANNEL_NAMES
    from pymodaq_plugins_aefi.domain.quality import relative_rms_error

    name = f"lag-figure-{args.filter_tau_ms:g}"
    arcus_url = f"sim://{name}?baud=9600&timing=wire"
    board_url = f"sim://{name}?filter_tau_ms={args.filter_tau_ms:g}"  # the board's options come with its link
    config = FlyScanConfig(fast_start_mm=14.0, fast_stop_mm=74.0, slow_start_mm=16.0, slow_stop_mm=58.0,
                           lines=args.lines, points_per_line=61, speed_mm_s=args.speed_mm_s, detector="board",
                           trigger="continuous", seed=args.seed)
    with tempfile.TemporaryDirectory() as out_dir:
        app = build_flyscan(arcus_url, board_url, out_dir=out_dir, file_name="scan.h5", speeds=bench_speeds())
        results = app.service.run_study(config).results
    raw, lag = results.raw, results.lag
    truth = truth_map(results)
    assert truth is not None
    stamped = grid_samples(raw.fast_mm, raw.slow_mm, raw.channels_volts, config.fast_axis_mm, config.slow_axis_mm)
    true_lag = board_true_lag_ms(board_url)
    before, after = relative_rms_error(stamped.volts, truth), relative_rms_error(results.map.volts, truth)

    c = CHANNEL_NAMES.index(args.channel)
    half_fast, half_slow = config.fast_pitch_mm / 2, config.slow_pitch_mm / 2
    extent = (config.fast_start_mm - half_fast, config.fast_stop_mm + half_fast,
              config.slow_start_mm - half_slow, config.slow_stop_mm + half_slow)
    errors = [stamped.volts[c] - truth[c], results.map.volts[c] - truth[c]]
    limit = float(np.nanmax(np.abs(errors[0])))
    vmin, vmax = float(np.nanmin(truth[c])), float(np.nanmax(truth[c]))
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.6))
    spread = f" ± {lag.uncertainty_ms:.2f}" if lag.uncertainty_ms is not None else ""
    titles = [("samples at their stamped position", f"map RMS error {100 * before:.2f} % of range"),
              (f"samples at t − {lag.lag_ms:.2f}{spread} ms (measured)", f"map RMS error {100 * after:.2f} % of range")]
    for k, (grid, (title, error_title)) in enumerate(zip((stamped, results.map), titles, strict=True)):
        shown = axes[0, k].imshow(grid.volts[c], origin="lower", extent=extent, aspect="equal", cmap="viridis",
                                  vmin=vmin, vmax=vmax, interpolation="nearest")
        axes[0, k].set_title(title)
        fig.colorbar(shown, ax=axes[0, k], label=f"{args.channel} (V)", shrink=0.8)
        diff = axes[1, k].imshow(errors[k], origin="lower", extent=extent, aspect="equal", cmap="RdBu_r",
                                 vmin=-limit, vmax=limit, interpolation="nearest")
        axes[1, k].set_title(f"map − field: {error_title}")
        fig.colorbar(diff, ax=axes[1, k], label="V", shrink=0.8)
        for ax in axes[:, k]:
            ax.set_xlabel(f"{config.fast_axis} (mm), flown both ways")
            ax.set_ylabel(f"{config.slow_axis} (mm)")
    fig.suptitle(f"Simulated board, detection low-pass τ = {args.filter_tau_ms:g} ms (true lag {true_lag:.2f} ms), "
                 f"serpentine at {config.speed_mm_s:g} mm/s:\nthe comb artifact and its compensation "
                 "(white: edge half-cells the shifted samples no longer reach)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"{results.scan_id}: {results.status.value}, {len(raw)} samples, {config.lines} lines at "
          f"{config.speed_mm_s:g} mm/s; filter_tau_ms {args.filter_tau_ms:g}")
    print(f"detector lag measured {lag.lag_ms:.2f}{spread} ms from {lag.lines_matched} lines "
          f"({'applied' if lag.applied else 'not applied'}); simulator's true lag {true_lag:.2f} ms "
          f"({100 * (lag.lag_ms - true_lag) / true_lag:+.1f} %)")
    print(f"map RMS error vs the field: {100 * before:.2f} % of range without compensation, {100 * after:.2f} % with")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
