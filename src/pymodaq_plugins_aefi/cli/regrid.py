"""`aefi-flyscan regrid`: rebuild a saved scan's map from the raw stream the file keeps.

The raw stream (every sample with its time and the position the engine gave it) is the source of
truth; the map is one view of it. Re-gridding picks another fast-axis pitch and another detector lag
(or measures the lag again) and writes a new file beside the source, never over it.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from ..domain.results import ScanResults

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _parser() -> argparse.ArgumentParser:
    from .flyscan import _lag_ms

    p = argparse.ArgumentParser(
        prog="aefi-flyscan regrid",
        description="Rebuild the map of a saved flyscan (scan.h5) from its raw stream: another fast-axis pitch, "
                    "another detector lag. Writes a new file; the source is never modified.",
    )
    p.add_argument("source", type=Path, help="an HDF5 file written by aefi-flyscan or a flyscan viewer")
    p.add_argument("--pitch-mm", type=float, default=None,
                   help="fast-axis pitch of the new map (mm); the span is divided into whole cells, so the pitch "
                        "used is the nearest that fits (default: the scan's own)")
    p.add_argument("--lag-ms", type=_lag_ms, default=None, metavar="auto|MS",
                   help="detector lag (ms) to place the samples at t − lag; auto (the default): measured again from "
                        "the raw stream; 0: no compensation")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="the new file (default: beside the source, SOURCE-regrid-<pitch>mm-lag<L|auto>.h5)")
    return p


def default_output(source: Path, pitch_mm: float, lag_ms: Optional[float]) -> Path:
    lag = "auto" if lag_ms is None else f"{lag_ms:g}ms"
    return source.with_name(f"{source.stem}-regrid-{pitch_mm:.4g}mm-lag{lag}{source.suffix}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    from ..adapters.h5_repository import H5ResultsRepository, load_results
    from ..domain.errors import InvalidScanConfig
    from ..domain.results import regrid

    source: Path = args.source
    if not source.is_file():
        print(f"aefi-flyscan regrid: {source}: no such file", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        results = load_results(source)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as err:
        print(f"aefi-flyscan regrid: {source} is not an AEFI flyscan file ({type(err).__name__}: {err})",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if len(results.raw) < 2:
        print(f"aefi-flyscan regrid: {source} holds no raw stream to grid again ({len(results.raw)} samples)",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        regridded = regrid(results, args.pitch_mm, args.lag_ms, regridded_from=str(source))
    except InvalidScanConfig as err:
        flag = "--pitch-mm" if err.field in ("pitch_mm", "points_per_line", "sample_rate_hz") else \
            "--lag-ms" if err.field == "detector_lag_ms" else err.field
        print(f"aefi-flyscan regrid: {flag}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    output: Path = args.output or default_output(source, regridded.config.fast_pitch_mm, args.lag_ms)
    if output.resolve() == source.resolve():
        print(f"aefi-flyscan regrid: --output {output} is the source file; the source is never overwritten",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    if output.suffix != ".h5":
        print(f"aefi-flyscan regrid: --output {output}: the file must end in .h5 (PyMoDAQ's format)", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        written = H5ResultsRepository(output.parent).write_file(regridded, output)
    except OSError as err:
        print(f"aefi-flyscan regrid: could not write {output}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILED
    print(summary(regridded, written))
    return 0


def summary(results: ScanResults, written: str) -> str:
    from .flyscan import truth_map

    config, lag = results.config, results.lag
    text = [f"{results.scan_id}: {len(results.raw)} samples regridded on {config.lines} × {config.points_per_line} "
            f"cells, pitch {config.fast_pitch_mm:.4g} mm"]
    if lag.lag_ms is None:
        text.append(f"  detector lag unknown, not compensated ({lag.note})")
    else:
        spread = f" ± {lag.uncertainty_ms:.2f}" if lag.uncertainty_ms is not None else ""
        text.append(f"  detector lag {lag.lag_ms:.2f}{spread} ms ({lag.source}), "
                    f"{'applied' if lag.applied else 'not applied'}")
    if results.provenance.source.startswith("sim://") and results.config.detector in ("board", "virtual_probe"):
        # a scan of the simulated bench: check the new view against its known field map
        truth = truth_map(results)
        if truth is not None:
            from ..domain.quality import relative_rms_error

            error = relative_rms_error(results.map.volts, truth)
            text.append(f"  vs the simulated field map: map RMS error {100 * error:.2f} % of range")
    text.append(f"  wrote {written}")
    return "\n".join(text)
