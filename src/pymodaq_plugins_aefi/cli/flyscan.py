"""`aefi-flyscan`: a headless 2D flyscan, on the embedded simulator by default or on hardware (--port).

On the simulator the detector is the simulated acquisition board (the bench's own detector, read
back to back at the pace its averaging sets); `--detector virtual_probe` samples the known field
map at a software trigger rate instead (timing work). Before any motion it prints the plan's
advice: samples per map cell and the smear of each sample, with a warning and the speed that fixes
it when a cell would get fewer than 2 samples or the smear would exceed half a cell.

Writes into --out (default ./aefi-out/): scan.h5 (PyMoDAQ format), map.png (the map in mm with a
colour bar; with the ground truth and the difference on the simulator) and stats.json (timing and
accuracy figures, docs/architecture.md "stats.json"). The map places each sample where the probe was
at t − the detector's lag, measured from the serpentine's lines flown both ways unless
--detector-lag-ms gives it. `aefi-flyscan regrid scan.h5 --pitch-mm P [--lag-ms L]` rebuilds the map
of a saved scan from its raw stream into a new file. Ctrl-C (SIGINT), SIGTERM and SIGHUP stop the
motors, save every sample acquired so far (the interrupted line flagged partial) with status "aborted"
and exit with 128 + the signal's number (130, 143, 129). scan.h5 is written line by line while the
scan runs; the folder's free space and writability are checked before anything moves.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..domain.cadence import PlanAdvice, cell_count_stats, interval_stats_us, plan_advice, sample_intervals_us
from ..domain.config import AXES, DAQ_DETECTORS, DAQ_START_TRIGGERS, DETECTORS, PATTERNS, TRIGGERS, FlyScanConfig
from ..domain.errors import FlyScanError, InvalidScanConfig
from ..domain.events import FlyScanEvent, FlyScanProgress, FlyScanStarted
from ..domain.fly_scan import ScanStatus
from ..domain.gridding import grid_samples
from ..domain.measurement import CHANNEL_NAMES
from ..domain.results import ScanResults
from .bench_report import json_safe

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT; other signals exit with 128 + their number
#: Signals that stop a scan cleanly: Ctrl-C, a service manager or `timeout`, a closing terminal.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))

#: The demo raster: the simulated sample's features sit at 20–65 mm; the simulator starts at 0 and
#: the run-up needs ~4 mm before the first sample. The scan runs its axes at the bench's profile of
#: the configuration ([arcus]: HS 1500 pulses/s = 32.7 mm/s, ramps 300 ms) and puts the controller's
#: previous speeds back at its end; the whole scan takes about half a minute. With the board at one
#: average (~87 Hz by its timing model) a 1 mm cell at 20 mm/s gets ~4 samples, each smeared 5 µm.
DEFAULTS = dict(
    fast_start_mm=14.0, fast_stop_mm=74.0, slow_start_mm=16.0, slow_stop_mm=58.0, lines=8, points_per_line=61,
    speed_mm_s=20.0, sample_rate_hz=1000.0, fast_axis="X", slow_axis="Y", pattern="serpentine",
    trigger="software", board_n_avg=1, settle_ms=0.0, step_um=21.8, travel_min_mm=0.0, travel_max_mm=1200.0,
    seed=None, encoder_counts_per_step=0.0, differential=False, excitation_settle_ms=50.0, detector_lag_ms=None,
)
#: The NI-DAQmx detector's defaults: six channels at 10 kHz, ±10 V, started by SYN on PFI0.
DAQ_DEFAULTS: dict[str, Any] = dict(daq_channels="Dev1/ai0:5", daq_rate_hz=10_000.0, daq_range_v=10.0,
                                    daq_start_trigger="syn", daq_trigger_source="/Dev1/PFI0")
#: Options whose default depends on the detector (None on the command line: not given).
_DETECTOR_DEFAULTS = ("sample_rate_hz", "trigger")


def _parser() -> argparse.ArgumentParser:
    from ..bootstrap import DEFAULT_SIM_URL

    p = argparse.ArgumentParser(
        prog="aefi-flyscan",
        description="Run a 2D flyscan (fast axis at constant speed, slow axis stepped) and save scan.h5, map.png, "
                    "stats.json.",
        epilog="aefi-flyscan regrid scan.h5 --pitch-mm P [--lag-ms L]: rebuild a saved scan's map from its raw stream "
               "into a new file (aefi-flyscan regrid --help).",
    )
    p.add_argument("--out", type=Path, default=Path("aefi-out"), help="output folder (default ./aefi-out)")
    p.add_argument("--port", default=DEFAULT_SIM_URL,
                   help=f"Arcus link URL: sim://NAME[?baud=&timing=wire|none], serial:///dev/ttyUSB0?baud=9600, "
                        f"tcp://HOST:PORT, usb://4ex00 (default {DEFAULT_SIM_URL})")
    p.add_argument("--board", default=None,
                   help="AEFI acquisition board URL (detector 'board'), e.g. serial:///dev/ttyACM0?baud=1500000 "
                        "(default on the simulator: the simulated bench's own board)")
    g = p.add_argument_group("plan (physical units)")
    for name in ("fast_start_mm", "fast_stop_mm", "slow_start_mm", "slow_stop_mm", "speed_mm_s", "sample_rate_hz",
                 "settle_ms", "step_um", "travel_min_mm", "travel_max_mm"):
        if name == "sample_rate_hz":
            g.add_argument("--sample-rate-hz", dest=name, type=float, default=None,
                           help=f"software trigger rate (default {DEFAULTS[name]:g}); not for the board, which is "
                                "read back to back at the pace --board-n-avg sets")
            continue
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=float, default=DEFAULTS[name],
                       help=f"default {DEFAULTS[name]:g}")
    for name in ("lines", "points_per_line", "board_n_avg"):
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=int, default=DEFAULTS[name],
                       help=f"default {DEFAULTS[name]}")
    g.add_argument("--encoder-counts-per-step", dest="encoder_counts_per_step", type=float,
                   default=DEFAULTS["encoder_counts_per_step"],
                   help="encoder counts per motor step of the fast axis (AMT112Q at 4x on 3200 steps/turn: 2.56; "
                        "default 0 = no encoder): the encoder is read beside every position poll, lost steps stop "
                        "the scan, samples are positioned on it, and each line's SYN compare output fires at its "
                        "first grid point (on the simulator: add encoder_ppr=X=2048:3200 to a sim:// --port)")
    g.add_argument("--fast-axis", choices=AXES, default=DEFAULTS["fast_axis"])
    g.add_argument("--slow-axis", choices=AXES, default=DEFAULTS["slow_axis"])
    g.add_argument("--pattern", choices=PATTERNS, default=DEFAULTS["pattern"])
    g.add_argument("--trigger", choices=TRIGGERS, default=None,
                   help="default: continuous for the board (its one cadence), else software")
    g.add_argument("--seed", type=int, default=None,
                   help="seed of the simulated noise (virtual probe, simulated board): the same seed, the same noise")
    g.add_argument("--detector-lag-ms", dest="detector_lag_ms", type=_lag_ms, default=None, metavar="auto|MS",
                   help="the detector's lag (ms): each sample is gridded where the probe was at t − lag. auto (the "
                        "default): measured from the scan (neighbouring serpentine lines flown both ways) and applied "
                        "when it can be; 0: no compensation")
    g.add_argument("--detector", choices=DETECTORS, default=None,
                   help="default: board on the simulator (its simulated board) or when --board is given, else none; "
                        "virtual_probe: the field map at a software trigger rate (timing work)")
    d = p.add_argument_group("differential (the bench's baseline without excitation)")
    d.add_argument("--differential", action="store_true",
                   help="fly every line twice at its slow position: excited, then back over it with the excitation "
                        "muted (the board's DDS1/DDS2 gain registers at 0, phase and frequency untouched; restored "
                        "on every ending); scan.h5 holds the map, the baseline and their difference (board only)")
    d.add_argument("--excitation-settle-ms", dest="excitation_settle_ms", type=float,
                   default=DEFAULTS["excitation_settle_ms"],
                   help="wait after each mute and unmute before the line's samples (default %(default)g ms, the "
                        "bench's step scans' value, not yet validated on the bench)")
    d.add_argument("--excitation-gains", dest="excitation_gains", default=None, metavar="DDS1,DDS2",
                   help="the AD9106 gain words an unmute writes back (0..16376 each; default: [board] "
                        "excitation_gains of the configuration, 10000,10000 as shipped; the board cannot be read "
                        "back, and a board configured in this session keeps its configured words)")
    q = p.add_argument_group("NI-DAQmx detector (--detector daqmx, or daqmx_sim on the simulator)")
    q.add_argument("--daqmx-channels", dest="daq_channels", default=None,
                   help=f"AI channels (default {DAQ_DEFAULTS['daq_channels']}; at most 6, in CHANNEL_NAMES order)")
    q.add_argument("--daqmx-rate-hz", dest="daq_rate_hz", type=float, default=None,
                   help=f"the task's sample clock (default {DAQ_DEFAULTS['daq_rate_hz']:g})")
    q.add_argument("--daqmx-range-v", dest="daq_range_v", type=float, default=None,
                   help=f"± input range (default {DAQ_DEFAULTS['daq_range_v']:g} V)")
    q.add_argument("--start-trigger", dest="daq_start_trigger", choices=DAQ_START_TRIGGERS, default=None,
                   help="syn: each line's task starts on the Arcus DO1 edge (SYN compare at the line's first point) "
                        "wired to --daqmx-trigger-source; software: a stamped software start (default syn)")
    q.add_argument("--daqmx-trigger-source", dest="daq_trigger_source", default=None,
                   help=f"terminal of the SYN edge (default {DAQ_DEFAULTS['daq_trigger_source']})")
    p.add_argument("--channel", choices=CHANNEL_NAMES, default="z_in_phase", help="channel drawn in map.png")
    p.add_argument("--clear-errors", action="store_true",
                   help="clear the latched limit or alarm errors of the scan's two axes (CLR) before the scan; "
                        "without it, an axis with a latched error refuses the scan before any motion")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--gui", action="store_true",
                   help="show the scan live in a window (PyMoDAQ widgets: map, current line, progress, timing)")
    p.add_argument("--screenshot", type=Path, default=None,
                   help="with --gui: save the window as this PNG when the scan ends, then close it")
    return p


def _lag_ms(text: str) -> Optional[float]:
    """--detector-lag-ms / --lag-ms: "auto" (None: measured from the data) or a number of ms."""
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number of ms, got {text!r}") from None


def _detector(args: argparse.Namespace, simulated: bool) -> str:
    return str(args.detector or ("board" if simulated or args.board else "none"))


def simulated_board_url(arcus_url: str) -> str:
    """The board of the simulated bench an Arcus sim:// URL names (same bench, same ground truth),
    with the URL's timing and board options (board_offset_uv, board_drift_uv_per_s, filter_tau_ms)."""
    name, _, query = arcus_url[len("sim://"):].partition("?")
    kept = [kv for kv in query.split("&") if kv.startswith(("timing=", "board_", "filter_tau_ms="))]
    return f"sim://{name}" + (f"?{'&'.join(kept)}" if kept else "")


def _config(args: argparse.Namespace, simulated: bool, max_speed_pps: Optional[float] = None) -> FlyScanConfig:
    detector = _detector(args, simulated)
    if detector == "board" and args.sample_rate_hz is not None:
        model_hz = 1e9 / _board_round_trip_ns(args.board_n_avg)
        raise InvalidScanConfig(
            "sample_rate_hz",
            f"the board is read back to back at its own pace, so no trigger rate applies: its rate is set by "
            f"--board-n-avg ({args.board_n_avg} average{'s' if args.board_n_avg != 1 else ''}: ~{model_hz:.0f} Hz "
            "by the board's timing model; more averages, less noise, fewer samples)",
        )
    daq_given = [k for k in DAQ_DEFAULTS if getattr(args, k) is not None]
    if detector in DAQ_DETECTORS:
        return _daq_config(args, detector, max_speed_pps)
    if daq_given:
        raise InvalidScanConfig(daq_given[0], "applies to the NI-DAQmx detector only (--detector daqmx or daqmx_sim)")
    values = {name: getattr(args, name) for name in DEFAULTS if name not in _DETECTOR_DEFAULTS}
    values["sample_rate_hz"] = DEFAULTS["sample_rate_hz"] if args.sample_rate_hz is None else args.sample_rate_hz
    values["trigger"] = args.trigger or ("continuous" if detector == "board" else DEFAULTS["trigger"])
    if max_speed_pps is not None:
        values["max_speed_pps"] = max_speed_pps
    return FlyScanConfig(detector=detector, **values)


def _daq_config(args: argparse.Namespace, detector: str, max_speed_pps: Optional[float]) -> FlyScanConfig:
    """The DAQ samples on its own clock: trigger "hardware" at --daqmx-rate-hz."""
    if args.sample_rate_hz is not None:
        raise InvalidScanConfig("sample_rate_hz", "the DAQ's rate is --daqmx-rate-hz (its own sample clock)")
    if args.trigger not in (None, "hardware"):
        raise InvalidScanConfig("trigger", "the DAQ samples on its own clock (trigger hardware); "
                                           "its start is --start-trigger syn|software")
    daq = {k: (DAQ_DEFAULTS[k] if getattr(args, k) is None else getattr(args, k)) for k in DAQ_DEFAULTS}
    values = {name: getattr(args, name) for name in DEFAULTS if name not in _DETECTOR_DEFAULTS}
    if max_speed_pps is not None:
        values["max_speed_pps"] = max_speed_pps
    return FlyScanConfig(detector=detector, trigger="hardware", sample_rate_hz=daq.pop("daq_rate_hz"), **values, **daq)


def _gains(text: str) -> tuple[int, int]:
    """`--excitation-gains DDS1,DDS2`: two AD9106 gain words."""
    try:
        words = [int(w) for w in text.split(",")]
    except ValueError:
        words = []
    if len(words) != 2 or not all(0 <= w <= 16_376 for w in words):
        raise InvalidScanConfig("excitation_gains", f"{text!r} is not two gain words DDS1,DDS2 in 0..16376")
    return words[0], words[1]


def _board_round_trip_ns(n_avg: int) -> int:
    from .. import _engine

    if not 1 <= n_avg <= 255:
        raise InvalidScanConfig("board_n_avg", f"{n_avg} is outside the allowed range [1, 255]")
    return int(_engine.board_round_trip_model_ns(n_avg))


def advice_for(config: FlyScanConfig) -> PlanAdvice:
    """The plan's advice: the board at its timing model's rate and window, a triggered detector at
    its trigger rate (the virtual probe samples an instant)."""
    from .. import _engine

    if config.detector == "board":
        rate_hz = 1e9 / _board_round_trip_ns(config.board_n_avg)
        window_s = _engine.board_window_model_ns(config.board_n_avg) * 1e-9
        return plan_advice(config, rate_hz, window_s)
    return plan_advice(config, config.sample_rate_hz, 0.0)


class ProgressBar:
    """A ScanObserver drawing a tqdm bar: lines done, samples, engine state."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None

    def on_event(self, event: FlyScanEvent) -> None:
        if isinstance(event, FlyScanStarted):
            config = event.config
            pace = (f"board back to back, {config.board_n_avg} avg" if config.detector == "board"
                    else f"{config.sample_rate_hz:g} Hz samples")
            print(f"{event.scan_id}: flying {config.lines} lines of {config.fast_span_mm:g} mm "
                  f"at {config.speed_mm_s:g} mm/s ({pace}); "
                  "Ctrl-C stops the motors and keeps what is acquired", flush=True)
        if not self.enabled:
            return
        if isinstance(event, FlyScanStarted):
            from tqdm import tqdm

            self._bar = tqdm(total=event.lines_total, unit="line", desc=event.scan_id, dynamic_ncols=True)
        elif isinstance(event, FlyScanProgress) and self._bar is not None:
            self._bar.n = event.lines_done
            self._bar.set_postfix(state=event.state, samples=event.samples, refresh=False)
            self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


# ---- figures -------------------------------------------------------------------------------------
def truth_map(results: ScanResults) -> Optional[np.ndarray]:
    """The simulated sample's noiseless map (6, n_slow, n_fast) on the results' grid (X/Y scans only)."""
    return truth_map_on(results.config, results.map.fast_axis_mm, results.map.slow_axis_mm)


def truth_map_on(config: FlyScanConfig, fast_axis_mm: np.ndarray, slow_axis_mm: np.ndarray) -> Optional[np.ndarray]:
    """The simulated sample's noiseless map (6, n_slow, n_fast) on a grid (X/Y scans only)."""
    from .. import _engine

    if {config.fast_axis, config.slow_axis} != {"X", "Y"}:
        return None
    fast, slow = np.meshgrid(fast_axis_mm, slow_axis_mm)
    x, y = (fast, slow) if config.fast_axis == "X" else (slow, fast)
    volts = _engine.field_map_volts(np.ascontiguousarray(x.ravel()), np.ascontiguousarray(y.ravel()))
    return np.asarray(volts).T.reshape((len(CHANNEL_NAMES), np.size(slow_axis_mm), np.size(fast_axis_mm)))


def position_errors_steps(results: ScanResults, url: str) -> np.ndarray:
    """|engine position − simulator ground truth| of every sample's fast axis, in steps."""
    from .. import _engine

    raw = results.raw
    if not len(raw):
        return np.empty(0)
    truth_steps = _engine.sim_truth(url, results.config.fast_axis, np.ascontiguousarray(raw.t_ns))
    truth = np.asarray(truth_steps, dtype=np.float64)
    return np.abs(raw.fast_mm / results.config.scale.step_mm - truth)


def encoder_errors_counts(results: ScanResults, url: str) -> np.ndarray:
    """|recorded encoder count − simulator's true count| of every sample (counts)."""
    from .. import _engine

    raw = results.raw
    if not len(raw):
        return np.empty(0)
    truth = _engine.sim_truth_encoder(url, results.config.fast_axis, np.ascontiguousarray(raw.t_ns))
    return np.abs(raw.encoder_counts - np.asarray(truth, dtype=np.float64))


def syn_stamps(results: ScanResults, url: Optional[str]) -> Optional[dict[str, Any]]:
    """The lines' SYN stamps (None without any); on the simulator, against the true firing instants:
    |stamp − truth| and how long after the firing the status was seen at 2 (µs, p50/p99)."""
    from ..domain.quality import percentiles

    stamped = [lt for lt in results.stats.get("line_times", []) if lt.get("syn_t_ns") is not None]
    if not stamped:
        return None
    figures: dict[str, Any] = {"lines": len(stamped),
                               "bound_us": percentiles(np.array([lt["syn_err_ns"] for lt in stamped]) * 1e-3)}
    if url is not None:
        from .. import _engine

        events = [e for e in _engine.sim_sync_events(url) if e["axis"] == results.config.fast_axis]
        errors, latencies = [], []
        for lt in stamped:
            same = [e for e in events if e["position_counts"] == lt["syn_position_counts"]]
            if same:
                true_ns = min((e["t_ns"] for e in same), key=lambda t: abs(t - lt["syn_t_ns"]))
                errors.append(abs(lt["syn_t_ns"] - true_ns) * 1e-3)
                latencies.append((lt["syn_seen_ns"] - true_ns) * 1e-3)
        figures["stamp_error_us"] = percentiles(np.array(errors))
        figures["seen_after_us"] = percentiles(np.array(latencies))
    return figures


def board_truth_fast_mm(board_url: str, fast_axis: str, t_ns: np.ndarray) -> np.ndarray:
    """The simulated board's ground truth for samples stamped `t_ns`: the probe's true fast-axis
    position (mm) at the true middle of the averaging window of each sample's measurement.

    The simulator logs every measurement's true window middle and probe position; each sample is
    matched to the measurement whose true middle is nearest its stamp (measurements are ≥ 11 ms
    apart, a stamp's error a fraction of a millisecond).
    """
    from .. import _engine

    t = np.asarray(t_ns, dtype=np.int64)
    truth = _engine.sim_board_truth(board_url)
    t_mid = np.asarray(truth["t_mid_ns"], dtype=np.int64)
    if t_mid.size == 0 or t.size == 0:
        return np.full(t.shape, np.nan)
    true_fast_mm = np.asarray(truth["x_mm" if fast_axis == "X" else "y_mm"], dtype=np.float64)
    order = np.argsort(t_mid, kind="stable")
    t_mid, true_fast_mm = t_mid[order], true_fast_mm[order]
    right = np.clip(np.searchsorted(t_mid, t), 0, t_mid.size - 1)
    left = np.clip(right - 1, 0, t_mid.size - 1)
    nearest = np.where(np.abs(t_mid[right] - t) < np.abs(t_mid[left] - t), right, left)
    return true_fast_mm[nearest]


def board_true_lag_ms(board_url: str) -> Optional[float]:
    """The simulated board's true detector lag (ms): its detection chain's low-pass τ plus the ADC
    filter's group delay, as its truth log has it (the median over the measurements)."""
    from .. import _engine

    lag_ns = np.asarray(_engine.sim_board_truth(board_url)["lag_ns"], dtype=np.float64)
    return float(np.median(lag_ns)) * 1e-6 if lag_ns.size else None


def board_position_errors_steps(results: ScanResults, board_url: str) -> np.ndarray:
    """|engine position − the simulated board's ground truth| of every sample (steps), the truth
    taken at the middle of each sample's averaging window."""
    raw = results.raw
    if not len(raw):
        return np.empty(0)
    truth_mm = board_truth_fast_mm(board_url, results.config.fast_axis, raw.t_ns)
    return np.abs(raw.fast_mm - truth_mm) / results.config.scale.step_mm


def daq_sample_shifts_ns(feed: Any, true_starts: dict[int, int]) -> dict[int, int]:
    """Per line: the instant its samples were placed from minus the instant the simulated DAQ's
    clock really started (0 with the SYN start; minus the software start's lateness otherwise)."""
    return {k: int(f.start_ns) - int(true_starts[k]) for k, f in feed.lines.items() if k in true_starts}


def daq_position_errors_steps(results: ScanResults, url: str, shifts_ns: dict[int, int]) -> np.ndarray:
    """|engine position − the simulator's truth at the instant each sample was really taken| (steps)."""
    from .. import _engine

    raw = results.raw
    if not len(raw):
        return np.empty(0)
    shift = np.array([shifts_ns.get(int(k), 0) for k in np.asarray(raw.line)], dtype=np.int64)
    taken_ns = np.ascontiguousarray(np.asarray(raw.t_ns, dtype=np.int64) - shift)
    truth = np.asarray(_engine.sim_truth(url, results.config.fast_axis, taken_ns), dtype=np.float64)
    return np.abs(raw.fast_mm / results.config.scale.step_mm - truth)


def build_stats(
    results: ScanResults,
    url: str,
    simulated: bool,
    truth: Optional[np.ndarray],
    board_url: Optional[str] = None,
    daq_shifts_ns: Optional[dict[int, int]] = None,
) -> dict[str, Any]:
    """stats.json: the engine's figures, the figures of the detector's cadence, and on the simulator
    the truth checks (virtual probe: the Arcus truth at each trigger instant; board: the board
    simulator's truth at the middle of each averaging window)."""
    from ..domain.estimates import step_scan_estimate_s
    from ..domain.quality import percentiles, relative_rms_error

    engine = results.stats
    config = results.config
    lateness = engine.get("trigger_lateness_us")
    position_error = None
    if simulated and config.detector == "board" and board_url is not None:
        position_error = percentiles(board_position_errors_steps(results, board_url))
    elif simulated and config.detector == "virtual_probe":
        position_error = percentiles(position_errors_steps(results, url))
    elif simulated and config.detector == "daqmx_sim" and daq_shifts_ns is not None:
        position_error = percentiles(daq_position_errors_steps(results, url, daq_shifts_ns))
    map_error = relative_rms_error(results.map.volts, truth) if simulated and truth is not None else None
    encoder_error = None
    if simulated and config.encoder_counts_per_step > 0:
        encoder_error = percentiles(encoder_errors_counts(results, url))
    syn = syn_stamps(results, url if simulated else None)
    map_error_uncompensated = map_error
    if map_error is not None and results.lag.applied:
        raw = results.raw
        unshifted = grid_samples(raw.fast_mm, raw.slow_mm, raw.channels_volts, results.map.fast_axis_mm,
                                 results.map.slow_axis_mm)
        map_error_uncompensated = relative_rms_error(unshifted.volts, truth)
    true_lag_ms = None
    if simulated and config.detector == "board" and board_url is not None:
        true_lag_ms = board_true_lag_ms(board_url)
    elif simulated and config.detector == "virtual_probe":
        true_lag_ms = 0.0  # it reads the field at the trigger instant
    smear_steps = engine.get("smear_steps")
    extra: dict[str, Any] = {}
    if config.detector in DAQ_DETECTORS:
        shifts_us = np.abs(np.array(list((daq_shifts_ns or {}).values()), dtype=np.float64)) * 1e-3
        # 0 by construction with the SYN start; the software start's lateness otherwise (simulator only)
        extra["daq_sample_time_error_us"] = ({"p50": float(np.percentile(shifts_us, 50)),
                                              "p99": float(np.percentile(shifts_us, 99)),
                                              "max": float(shifts_us.max())} if shifts_us.size else None)
    return extra | {
        "lines": results.lines_done,
        "samples": results.samples,
        "wall_time_s": engine.get("wall_time_s"),
        "physical_min_s": engine.get("physical_min_s"),
        "efficiency": engine.get("efficiency"),
        "overhead_per_line_ms": engine.get("overhead_per_line_ms"),
        "poll_rate_hz": engine.get("poll_rate_hz"),
        "wire_limit_hz": engine.get("wire_limit_hz"),
        "cadence": engine.get("cadence"),
        "detector_rate_hz": engine.get("detector_rate_hz"),
        "detector_rate_limit_hz": engine.get("detector_rate_limit_hz"),
        "sample_interval_us": interval_stats_us(sample_intervals_us(results.raw.t_ns, results.raw.line)),
        "smear_mm": None if smear_steps is None else smear_steps * config.scale.step_mm,
        "samples_per_cell": cell_count_stats(results.map.counts, results.lines_done),
        # only where the engine keeps a trigger schedule (cadence "triggered"); null otherwise
        "trigger_lateness_us": {k: lateness.get(k) for k in ("p50", "p99", "max")} if lateness else None,
        "missed_triggers": engine.get("missed_triggers"),
        "dropped_records": engine.get("dropped_records"),
        "link_retries": engine.get("link_retries", 0),
        "implausible_positions": engine.get("implausible_positions", 0),
        "rejected_samples": engine.get("rejected_samples", 0),
        "stall_detection": config.stall_detection,
        "encoder_error_counts": encoder_error,
        "syn": syn,
        "position_error_steps": position_error,
        "map_rms_error_rel": map_error,
        **results.lag.to_dict(),
        # the simulator's detection chain: low-pass τ + the ADC filter's group delay (null on hardware)
        "detector_lag_true_ms": true_lag_ms,
        "map_rms_error_rel_uncompensated": map_error_uncompensated,
        "step_scan_estimate_s": step_scan_estimate_s(config),
        # the bench's profile applied for the scan and the controller's previous one, put back at the end
        "axis_speeds": engine.get("axis_speeds"),
        "differential": differential_stats(results, truth if simulated else None),
        "status": results.status.value,
    }


def differential_stats(results: ScanResults, truth: Optional[np.ndarray]) -> Optional[dict[str, Any]]:
    """A differential scan's figures: what was done to the excitation, the baseline's mean and spread
    per channel (V), and on the simulator the RMS error of the map and of the difference vs the field."""
    from ..domain.quality import relative_rms_error

    config = results.config
    if not config.differential:
        return None
    baseline = results.baseline_volts.reshape(len(CHANNEL_NAMES), -1)
    finite = np.isfinite(baseline).any(axis=1)
    mean = [float(np.nanmean(row)) if ok else None for row, ok in zip(baseline, finite, strict=True)]
    spread = [float(np.nanstd(row)) if ok else None for row, ok in zip(baseline, finite, strict=True)]
    return {
        "excitation": results.stats.get("excitation"),
        "excitation_settle_ms": config.excitation_settle_ms,
        "flights": results.stats.get("flights"),
        "baseline_samples": len(results.baseline_raw),
        "baseline_mean_volts": dict(zip(CHANNEL_NAMES, mean, strict=True)),
        "baseline_std_volts": dict(zip(CHANNEL_NAMES, spread, strict=True)),
        "map_rms_error_rel": None if truth is None else relative_rms_error(results.map.volts, truth),
        "difference_rms_error_rel": None if truth is None else relative_rms_error(results.difference_volts, truth),
    }


def _wire_limit(limit_hz: Optional[float]) -> str:
    """A link without wire time (USB, an untimed simulator) has no limit, not an infinite one."""
    if limit_hz is None or not math.isfinite(limit_hz):
        return "no wire limit"
    return f"wire limit {limit_hz:.0f} Hz"


def save_map_png(results: ScanResults, truth: Optional[np.ndarray], channel: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = CHANNEL_NAMES.index(channel)
    config, grid = results.config, results.map
    half_fast = config.fast_pitch_mm / 2
    half_slow = config.slow_pitch_mm / 2 if config.lines > 1 else 0.5
    extent = (grid.fast_axis_mm.min() - half_fast, grid.fast_axis_mm.max() + half_fast,
              grid.slow_axis_mm.min() - half_slow, grid.slow_axis_mm.max() + half_slow)
    panels = [("flyscan", grid.volts[c], "viridis")]
    if config.differential:
        panels = [("flyscan (excited)", grid.volts[c], "viridis"),
                  ("baseline (excitation muted)", results.baseline_volts[c], "viridis_own"),
                  ("excited − baseline", results.difference_volts[c], "viridis")]
        if truth is not None:
            panels.append(("(excited − baseline) − truth", results.difference_volts[c] - truth[c], "RdBu_r"))
    elif truth is not None:
        panels += [("ground truth (field map)", truth[c], "viridis"),
                   ("flyscan − truth", grid.volts[c] - truth[c], "RdBu_r")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    shown_any = np.isfinite(panels[0][1]).any()
    vmin, vmax = np.nanmin(panels[0][1]) if shown_any else 0, np.nanmax(panels[0][1]) if shown_any else 1
    for ax, (title, image, cmap) in zip(axes[0], panels, strict=True):
        if cmap == "RdBu_r":
            lim = float(np.nanmax(np.abs(image))) if np.isfinite(image).any() else 1.0
            kwargs = dict(vmin=-lim, vmax=lim)
        elif cmap == "viridis_own":  # its own scale: a baseline is small beside the signal
            cmap = "viridis"
            kwargs = dict(vmin=np.nanmin(image), vmax=np.nanmax(image)) if np.isfinite(image).any() else {}
        else:
            kwargs = dict(vmin=vmin, vmax=vmax)
        shown = ax.imshow(image, origin="lower", extent=extent, aspect="equal", cmap=cmap, interpolation="nearest",
                          **kwargs)
        ax.set_title(title)
        ax.set_xlabel(f"{config.fast_axis} (mm)")
        ax.set_ylabel(f"{config.slow_axis} (mm)")
        fig.colorbar(shown, ax=ax, label=f"{channel} (V)", shrink=0.85)
    fig.suptitle(f"{results.scan_id} — {results.status.value}{' (partial)' if results.partial else ''}: "
                 f"{config.lines}×{config.points_per_line} at {config.speed_mm_s:g} mm/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min {rest % 60:02d} s"


def _fraction(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def summary(results: ScanResults, stats: dict[str, Any], out: Path, location: Optional[str] = None) -> str:
    lateness = stats["trigger_lateness_us"]
    rate, limit = stats["detector_rate_hz"], stats["detector_rate_limit_hz"]
    detector = f"  detector {str(stats['cadence'] or 'n/a').replace('_', ' ')}: {rate or 0:.1f} Hz achieved"
    if limit is not None:
        detector += f" (limit {limit:.1f} Hz)"
    interval, cells = stats["sample_interval_us"], stats["samples_per_cell"]
    if interval is not None:
        detector += f"; sample interval p50/p99/max {interval['p50'] / 1e3:.2f}/{interval['p99'] / 1e3:.2f}/" \
                    f"{interval['max'] / 1e3:.2f} ms"
    if stats["smear_mm"] is not None:
        detector += f"; smear {1e3 * stats['smear_mm']:.1f} µm"
    if cells is not None:
        detector += f"; samples per cell min {cells['min']:.0f}, mean {cells['mean']:.1f}"
    triggers = (f"trigger lateness p50/p99/max {lateness['p50']}/{lateness['p99']}/{lateness['max']} µs; "
                f"missed {stats['missed_triggers']}" if lateness is not None
                else "no trigger schedule (the detector sets its pace)")
    lines = [
        f"{results.scan_id}: {stats['status']}{' (partial)' if results.partial else ''} — "
        f"{stats['lines']}/{results.config.lines} lines, "
        f"{stats['samples']} samples in {_duration(stats['wall_time_s'])} "
        f"(legacy step scan of the same {results.config.point_count} points: "
        f"{_duration(stats['step_scan_estimate_s'])})",
        f"  efficiency {_fraction(stats['efficiency'])} of the physical minimum {_duration(stats['physical_min_s'])}; "
        f"overhead {_ms(stats['overhead_per_line_ms'])} per line",
        f"  position polls {stats['poll_rate_hz'] or 0:.0f} Hz ({_wire_limit(stats['wire_limit_hz'])}); "
        f"{triggers}, dropped {stats['dropped_records']}; "
        f"link retries {stats['link_retries']} (implausible positions {stats['implausible_positions']}), "
        f"rejected board replies {stats['rejected_samples']}; "
        f"stall detection {stats['stall_detection']}",
        detector,
    ]
    if stats["encoder_error_counts"] is not None:
        ee = stats["encoder_error_counts"]
        lines.append(f"  encoder vs simulator truth: error p50 {ee['p50']:.3f} / p99 {ee['p99']:.3f} counts")
    syn = stats["syn"]
    if syn is not None:
        text = f"  SYN start stamped on {syn['lines']} lines"
        if syn.get("stamp_error_us") is not None:
            text += (f"; stamp error vs truth p50 {syn['stamp_error_us']['p50']:.0f} / p99 "
                     f"{syn['stamp_error_us']['p99']:.0f} µs (status seen {syn['seen_after_us']['p50'] / 1e3:.1f} ms "
                     f"after the firing, p50)")
        lines.append(text)
    if stats["position_error_steps"] is not None:
        pe = stats["position_error_steps"]
        rms_rel = stats["map_rms_error_rel"]
        lines.append(f"  vs simulator truth: position error p50 {pe['p50']:.3f} / p99 {pe['p99']:.3f} steps"
                     + (f"; map RMS error {100 * rms_rel:.2f} % of range" if rms_rel is not None else ""))
    lines.append(lag_summary(stats))
    daq_time = stats.get("daq_sample_time_error_us")
    if daq_time:
        lines.append(f"  DAQ {results.config.daq_start_trigger} start: sample-time error vs truth p50/p99/max "
                     f"{daq_time['p50']:.1f}/{daq_time['p99']:.1f}/{daq_time['max']:.1f} µs "
                     "(the instants samples were placed at against those they were taken at)")
    diff = stats.get("differential")
    if diff:
        x = diff["excitation"] or {}
        line = (f"  differential: {diff['flights']} lines flown for {stats['lines']} map lines, "
                f"{x.get('mutes', 0)} mutes / {x.get('unmutes', 0)} unmutes of DDS1/DDS2 "
                f"(gains {x.get('gains')}), settle {diff['excitation_settle_ms']:g} ms; excitation "
                + ("restored" if x.get("restored") is not False else f"NOT restored: {x.get('error')}"))
        if diff["difference_rms_error_rel"] is not None:
            line += (f"; vs the field: map {100 * diff['map_rms_error_rel']:.2f} %, excited − baseline "
                     f"{100 * diff['difference_rms_error_rel']:.2f} % of range")
        lines.append(line)
    speeds = stats.get("axis_speeds")
    if speeds:
        applied = ", ".join(f"{axis} HS {p['high_speed_pps']} LS {p['low_speed_pps']} pulses/s, ramps "
                            f"{p['accel_ms']}/{p['decel_ms']} ms" for axis, p in speeds["applied"].items())
        ending = ("previous speeds restored" if speeds["restored"]
                  else f"previous speeds NOT restored: {speeds['restore_error']}")
        lines.append(f"  axis speeds for the scan: {applied}; {ending}")
    partial_lines = [line for line in results.lines if line.partial]
    if partial_lines:
        lines.append("  kept the interrupted line (flagged partial): " + ", ".join(
            f"line {line.index} with {line.samples} samples" for line in partial_lines))
    if results.error and results.status is not ScanStatus.COMPLETED:
        lines.append(f"  {results.error}")
    lines.append(f"  wrote {location or out / 'scan.h5'}, {out / 'map.png'}, {out / 'stats.json'}")
    return "\n".join(lines)


def lag_summary(stats: dict[str, Any]) -> str:
    """One line on the detector lag: its value, where it comes from, whether the map applies it."""
    lag, source = stats["detector_lag_ms"], stats["detector_lag_source"]
    if lag is None:
        text = f"  detector lag unknown, not compensated ({stats['detector_lag_note']})"
    else:
        spread = stats["detector_lag_uncertainty_ms"]
        text = f"  detector lag {lag:.2f}" + (f" ± {spread:.2f}" if spread is not None else "") + " ms"
        text += (f" (estimated from {stats['detector_lag_lines']} lines)" if source == "estimated" else f" ({source})")
        text += ", applied" if stats["detector_lag_applied"] else ", not applied"
    true_lag = stats.get("detector_lag_true_ms")
    if true_lag is not None:
        text += f"; simulator's true lag {true_lag:.2f} ms"
    rms, rms_without = stats.get("map_rms_error_rel"), stats.get("map_rms_error_rel_uncompensated")
    if rms is not None and rms_without is not None and stats["detector_lag_applied"]:
        text += f"; map RMS error {100 * rms:.2f} % with compensation, {100 * rms_without:.2f} % without"
    return text


class OutputError(Exception):
    """--out cannot take the scan's files (named, with the reason)."""


def estimated_output_bytes(config: FlyScanConfig) -> int:
    """Size of scan.h5 for `config`, with margin: the line journal and the final file both hold every
    sample (the journal is replaced at the end, but both exist for a moment), plus the map."""
    from ..adapters.h5_repository import file_bytes

    line_s = config.fast_span_mm / config.speed_mm_s + 1.0  # run-up and run-down on top of the line itself
    samples = int(config.flights * line_s * config.sample_rate_hz)
    return 2 * file_bytes(samples, config.point_count) + 2_000_000


def check_output(out: Path, needed_bytes: int) -> int:
    """Make sure --out is a writable folder with room for `needed_bytes`; returns the free bytes."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is an existing file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"--out {out}: cannot create the folder: {err.strerror or err}") from err
    try:
        with tempfile.NamedTemporaryFile(dir=out, prefix=".aefi-write-test-"):
            pass
    except OSError as err:
        raise OutputError(f"--out {out} is not writable: {err.strerror or err}") from err
    free = shutil.disk_usage(out).free
    if free < needed_bytes:
        raise OutputError(f"--out {out}: {free / 1e6:.1f} MB free, the scan needs about {needed_bytes / 1e6:.1f} MB")
    return free


def _run_in_worker(service: Any, config: FlyScanConfig) -> Any:
    """`service.run_study(config)` on a worker thread, the main thread waiting on an Event: a wait that
    a signal interrupts at once, so that the handler (the abort) runs within a millisecond instead of
    after the scan loop's next step."""
    ending: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            ending["outcome"] = service.run_study(config)
        except BaseException as error:  # handed to the main thread, which raises it
            ending["error"] = error
        finally:
            done.set()

    worker = threading.Thread(target=work, name="aefi-study")
    worker.start()
    while not done.wait(1.0):
        pass
    worker.join()
    if "error" in ending:
        raise ending["error"]
    return ending["outcome"]


def clear_errors(url: str, axes: Sequence[str]) -> Optional[str]:
    """Clear the latched errors of `axes` on the controller at `url`; returns what went wrong, if anything."""
    from ..adapters.arcus_stage import default_opener

    try:
        link = default_opener(url)
    except Exception as err:  # the engine's LinkError family and a bad URL (ValueError)
        return f"{url}: {err}"
    try:
        for axis in dict.fromkeys(axes):
            link.clear(axis)
            print(f"cleared the latched errors of axis {axis}", flush=True)
    except Exception as err:
        return f"{url}: {err}"
    finally:
        link.close()
    return None


def _write_text(path: Path, text: str) -> Optional[str]:
    try:
        path.write_text(text)
    except OSError as err:
        path.unlink(missing_ok=True)
        return f"could not write {path}: {err.strerror or err}"
    return None


#: Config fields whose command-line flag has another name.
_FLAGS = {"daq_channels": "daqmx-channels", "daq_range_v": "daqmx-range-v", "daq_start_trigger": "start-trigger",
          "daq_trigger_source": "daqmx-trigger-source", "daq_rate_hz": "daqmx-rate-hz"}


def _flag(field: str) -> str:
    return _FLAGS.get(field, field.replace("_", "-"))


def main(argv: Optional[Sequence[str]] = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["regrid"]:
        from .regrid import main as regrid_main

        return regrid_main(arguments[1:])
    args = _parser().parse_args(arguments)
    from ..bootstrap import bench_excitation_gains, bench_speeds, build_flyscan, is_simulated

    simulated = is_simulated(args.port)
    speeds = bench_speeds()
    try:
        gains = _gains(args.excitation_gains) if args.excitation_gains is not None else bench_excitation_gains()
        config = _config(args, simulated, speeds.max_speed_pps)
        speeds.for_scan(config)  # the speeds the scan will apply, checked before anything is opened
    except InvalidScanConfig as err:
        print(f"aefi-flyscan: --{_flag(err.field)}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if config.detector == "daqmx":
        from ..adapters.daq_tasks import DaqError, check_daqmx_runtime

        try:
            check_daqmx_runtime()  # before any file or motion: the scan port checks it again
        except DaqError as err:
            print(f"aefi-flyscan: {err}", file=sys.stderr)
            return EXIT_FAILED
    board_url = args.board
    if board_url is None and simulated and config.detector == "board":
        board_url = simulated_board_url(args.port)
    advice = advice_for(config)
    print(advice.summary(), flush=True)
    for warning in advice.warnings:
        print(f"warning: {warning}", flush=True)
    out = args.out
    needed = estimated_output_bytes(config)
    try:
        free = check_output(out, needed)
    except OutputError as err:
        print(f"aefi-flyscan: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"output: {out / 'scan.h5'}, about {needed / 1e6:.1f} MB ({free / 1e9:.1f} GB free)", flush=True)
    if args.clear_errors:
        problem = clear_errors(args.port, (config.fast_axis, config.slow_axis))
        if problem:
            print(f"aefi-flyscan: --clear-errors: {problem}", file=sys.stderr)
            return EXIT_FAILED
    bar = ProgressBar(enabled=not args.no_progress)
    app = build_flyscan(args.port, board_url, out_dir=out, file_name="scan.h5", observers=[bar], speeds=speeds,
                        excitation_gains=gains)
    window = None
    if args.gui:
        from .flyscan_gui import FlyscanWindow

        window = FlyscanWindow(app.service, args.channel)
    interrupted: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        # Only a flag and a non-blocking engine call: the scan loop notices, the engine stops the motors.
        interrupted.append(signum)
        app.service.abort()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        outcome = window.run(config) if window is not None else _run_in_worker(app.service, config)
    except InvalidScanConfig as err:
        print(f"aefi-flyscan: --{_flag(err.field)}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FlyScanError as err:
        if "bad link URL" in str(err):  # the engine's URL parser refused --port or --board
            _parser().print_usage(sys.stderr)
            print(f"aefi-flyscan: {err}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"aefi-flyscan: {err}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:  # even the fallback file in the temp folder could not be written
        print(f"aefi-flyscan: could not save the results: {err}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # a defect: said in one line, the motors already stopped by the service
        print(f"aefi-flyscan: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        bar.close()
    try:
        return _report(args, app, outcome, out, simulated, board_url, window, interrupted)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report(args: argparse.Namespace, app: Any, outcome: Any, out: Path, simulated: bool, board_url: Optional[str],
            window: Any, interrupted: list[int]) -> int:
    """stats.json, map.png and the summary; a file that cannot be written is named, never fatal."""
    from ..bootstrap import is_simulated

    results, config = outcome.results, outcome.results.config
    problems: list[Optional[str]] = []
    journal = getattr(app.repository, "journal", None)
    if journal is not None and journal.error:
        problems.append(journal.error)
    save_error = getattr(app.repository, "last_error", None)
    if save_error:
        problems.append(f"{save_error}; the results were saved to {outcome.location} instead")
    board_simulated = board_url is not None and is_simulated(board_url)
    checked = simulated and (config.detector in ("virtual_probe", "daqmx_sim")
                             or (config.detector == "board" and board_simulated))
    truth = truth_map(results) if checked else None
    port = app.scan_port
    feed, daq_truth = getattr(port, "last_daq", None), getattr(port, "last_daq_truth", None)
    shifts = daq_sample_shifts_ns(feed, daq_truth.starts) if feed is not None and daq_truth is not None else None
    stats = build_stats(results, args.port, checked, truth, board_url if board_simulated else None, shifts)
    problems.append(_write_text(out / "stats.json", json.dumps(json_safe(stats), indent=2) + "\n"))
    try:
        save_map_png(results, truth, args.channel, out / "map.png")
    except (OSError, ValueError) as err:
        (out / "map.png").unlink(missing_ok=True)
        problems.append(f"could not write {out / 'map.png'}: {err}")
    print(summary(results, stats, out, outcome.location))
    for problem in filter(None, problems):
        print(f"aefi-flyscan: {problem}", file=sys.stderr)
    if window is not None:
        if args.screenshot is None:
            window.wait_closed()
        window.close(args.screenshot)
    if interrupted:
        return 128 + interrupted[0]
    # A complete scan whose files are not all in --out (saved to the fallback) is not a success.
    return 0 if results.status is ScanStatus.COMPLETED and not any(problems) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
