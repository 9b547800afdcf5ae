"""`aefi-bench`: the Rust engine against the legacy Python loop, on the same simulator, in one run.

Both loops talk to one `aefi-arcus-sim` in a separate process (a PTY at the same baud timing) and
fly the same lines at the same speed, at 100 Hz, 1 kHz and 5 kHz software triggers, idle and with
a CPU-bound Python thread in their process. Position errors come from the simulator's
ground-truth log. The map figure compares the legacy 81 × 81 step scan with the engine's
flyscan, both timed on the simulator and scaled (the method is printed with the figure).

    aefi-bench                      the comparison (README figures: the full run)
    aefi-bench --quick --json F     CI smoke run, well under a minute
    aefi-bench engine-table         the engine's real-time loop with the demo's detectors (virtual
                                    probe, simulated board), idle and with a CPU-bound Python thread
    aefi-bench engine-table --rates 1000 --duration 60 --detectors board
    aefi-bench board                the board path: the legacy loop reading the board on each trigger
                                    vs the engine's back-to-back board thread, same simulators, same
                                    map, at n = 1, 10, 127 averages (--n-avg to choose, --quick: short)
    aefi-bench daq                  the simulated NI-DAQmx detector at 10 kHz, full speed: SYN start vs
                                    software start (map RMS, position error of every sample, sample-time
                                    error; --quick: 2 short lines)
    aefi-bench all --plot P.png     everything, plus the lateness plot
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Optional

from . import bench_stats as bs
from .bench_env import PythonLoad, SimProcess, machine_info
from .bench_report import LOADS, LOOPS, plot_lateness, rate_key, ratio_keys, render, targets, write_json
from .bench_runs import (
    DETECTORS_NOTE,
    BenchConfig,
    LineSchedule,
    RunData,
    configure_axes,
    detector_cost_us,
    engine_fly_run,
    fly_map_time,
    legacy_fly_run,
    step_map_time,
    steps_detector,
)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="aefi-bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[-1])
    p.add_argument("mode", nargs="?", choices=("compare", "engine-table", "board", "daq", "all"), default="compare",
                   help="what to measure (default: compare)")
    p.add_argument("--quick", action="store_true", help="short runs for CI smoke use (< 60 s)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON")
    p.add_argument("--plot", type=Path, metavar="FILE", help="write a PNG of the lateness distributions")
    p.add_argument("--baud", type=int, help="simulator and link baud, 9600..115200 (default 115200)")
    p.add_argument("--duration", type=float, metavar="S", help="seconds per fly run (default 10, quick 0.5)")
    p.add_argument("--rates", type=float, nargs="+", metavar="HZ", help="trigger rates (default 100 1000 5000)")
    p.add_argument("--speed-pps", type=float, help="fly speed in pulses/s (default 1500, the bench's HS)")
    p.add_argument("--turnaround-us", type=float, help="simulated controller turnaround in µs (default 200)")
    p.add_argument("--no-realtime", action="store_true", help="do not ask for SCHED_FIFO / a pinned core")
    p.add_argument("--detectors", nargs="+", choices=TABLE_DETECTORS, metavar="NAME",
                   help=f"engine-table: detectors sampled, of {', '.join(TABLE_DETECTORS)} (default both)")
    p.add_argument("--loads", nargs="+", choices=LOADS, metavar="LOAD",
                   help=f"engine-table: conditions, of {', '.join(LOADS)} "
                        "(default both; loaded = a CPU-bound Python thread)")
    p.add_argument("--n-avg", type=int, nargs="+", metavar="N", dest="n_avg",
                   help="board: MCU averages per sample compared (default 1 10 127)")
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> BenchConfig:
    overrides: dict[str, Any] = {}
    if args.baud is not None:
        overrides["baud"] = args.baud
    if args.duration is not None:
        overrides["duration_s"] = args.duration
    if args.rates:
        overrides["rates_hz"] = tuple(args.rates)
    if args.speed_pps is not None:
        overrides["speed_pps"] = args.speed_pps
    if args.turnaround_us is not None:
        overrides["turnaround_us"] = args.turnaround_us
    if args.no_realtime:
        overrides["realtime"] = False
    cfg = BenchConfig.quick(**overrides) if args.quick else replace(BenchConfig(), **overrides)
    cfg.validate()
    return cfg


def compare(cfg: BenchConfig, engine: Any, progress: Any = print) -> tuple[dict[str, Any], list[RunData]]:
    """Both loops on one simulator; returns the JSON document's legacy/rust/ratios parts and the runs."""
    detector = steps_detector(cfg.step_um, engine.field_map_volts)
    runs: list[RunData] = []
    sim = SimProcess(cfg.baud, extra_args=("--turnaround-us", f"{cfg.turnaround_us:g}"))
    try:
        with sim:
            url = f"serial://{sim.pty_path}?baud={cfg.baud}"
            schedule = LineSchedule(cfg)
            _with_legacy(sim, cfg, lambda a: configure_axes(a, cfg))
            for load in LOADS:
                for rate in cfg.rates_hz:
                    progress(f"  {load:6s} {rate:6g} Hz: Python loop ...")
                    runs.append(_with_legacy(sim, cfg, lambda a, rate=rate, load=load: legacy_fly_run(
                        a, cfg, rate, load, schedule.next(), detector)))
                    progress(f"  {load:6s} {rate:6g} Hz: Rust engine ...")
                    runs.append(_with_engine(engine, url, lambda c, rate=rate, load=load: engine_fly_run(
                        engine, c, cfg, rate, load, schedule.next())))
            progress("  map: legacy step scan points ...")
            legacy_map = _with_legacy(sim, cfg, lambda a: step_map_time(a, cfg, detector))
            progress("  map: engine flyscan lines ...")
            rust_map = _with_engine(engine, url, lambda c: fly_map_time(engine, c, cfg))
        truth_json = sim.truth_log.read_text()
    finally:
        sim.cleanup()
    for run in runs:
        truth = engine.sim_truth_from_log(truth_json, cfg.fast_axis, run.sample_t_ns.astype("int64"))
        errors = run.sample_steps - truth
        run.figures["pos_err_steps"] = _rename(bs.error_summary(errors).as_dict())
    doc: dict[str, Any] = {loop: {"runs": _runs_tree(runs, loop)} for loop in LOOPS}
    doc["legacy"]["map"] = legacy_map
    doc["rust"]["map"] = rust_map
    doc["rust"]["rt"] = next((r.figures.get("rt") for r in runs if r.loop == "rust" and r.figures.get("rt")), None)
    doc["detectors"] = {"note": DETECTORS_NOTE, "detector_cost_us": detector_cost_us(detector, engine.field_map_volts)}
    doc["ratios"] = bs.ratios_table(doc["legacy"], doc["rust"], ratio_keys(cfg.rates_hz))
    return doc, runs


def _with_legacy(sim: SimProcess, cfg: BenchConfig, fn: Any) -> Any:
    from ..legacy import LegacyArcus

    with LegacyArcus(sim.pty_path, cfg.baud) as arcus:
        return fn(arcus)


def _with_engine(engine: Any, url: str, fn: Any) -> Any:
    ctrl = engine.ArcusController(url)
    try:
        return fn(ctrl)
    finally:
        ctrl.close()


def _rename(summary: dict[str, Any]) -> dict[str, Any]:
    return {"p50": summary["p50_steps"], "p99": summary["p99_steps"], "max": summary["max_steps"],
            "count": summary["count"]}


def _runs_tree(runs: Sequence[RunData], loop: str) -> dict[str, dict[str, Any]]:
    tree: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.loop == loop:
            tree.setdefault(run.load, {})[rate_key(run.rate_hz)] = run.figures
    return tree


#: The detectors `make demo` uses, as `trigger_benchmark` samples them.
TABLE_DETECTORS = ("virtual_probe", "board")
TABLE_RATES_HZ = (1000.0, 5000.0)


def engine_pacer_table(engine: Any, duration_s: float, realtime: bool, rates_hz: Sequence[float] = TABLE_RATES_HZ,
                       progress: Any = print, detectors: Sequence[str] = TABLE_DETECTORS,
                       loads: Sequence[str] = LOADS) -> list[dict[str, Any]]:
    """The engine's real-time loop (production pacer and detector, records into the ring) on a
    simulated bench whose Arcus is being driven, with and without a CPU-bound Python thread."""
    rows = []
    for detector in detectors:
        for rate in rates_hz:
            for load in loads:
                progress(f"  {detector} {rate:g} Hz {load} ...")
                with PythonLoad(enabled=load == "loaded"):
                    stats = engine.trigger_benchmark(rate, duration_s, realtime=realtime, detector=detector)
                late = stats["trigger_lateness_us"]
                rows.append({"detector": detector, "rate_hz": rate, "load": load, "duration_s": duration_s,
                             "p50_us": late["p50"], "p99_us": late["p99"], "max_us": late["max"],
                             "count": int(late["count"]), "missed": int(stats["missed_triggers"]),
                             "samples": int(stats["samples"]), "rt": stats.get("rt")})
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        cfg = config_from(args)
    except ValueError as exc:
        print(f"aefi-bench: {exc}", file=sys.stderr)
        return 2
    if args.n_avg and not all(1 <= n <= 255 for n in args.n_avg):
        print("aefi-bench: --n-avg: each N must be in [1, 255] (MCU averages per sample)", file=sys.stderr)
        return 2
    if args.plot and args.mode in ("engine-table", "board", "daq"):
        print("aefi-bench: --plot needs the comparison (mode compare or all)", file=sys.stderr)
        return 2
    from .. import _engine

    def progress(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    doc: dict[str, Any] = {"machine": machine_info(), "config": asdict(cfg)}
    runs: list[RunData] = []
    if args.mode in ("compare", "all"):
        part, runs = compare(cfg, _engine, progress)
        doc.update(part)
        doc["targets"] = targets(doc)
    if args.mode in ("engine-table", "all"):
        table_s = args.duration if args.duration is not None else (1.0 if args.quick else 10.0)
        doc["engine_table"] = engine_pacer_table(_engine, table_s, cfg.realtime, rates_hz=args.rates or TABLE_RATES_HZ,
                                                 progress=progress, detectors=args.detectors or TABLE_DETECTORS,
                                                 loads=args.loads or LOADS)
    if args.mode in ("board", "all"):
        from .bench_board import N_AVGS, board_comparison, render_board

        doc["board"] = board_comparison(_engine, args.n_avg or N_AVGS, quick=args.quick, progress=progress)
    if args.mode in ("daq", "all"):
        from .bench_daq import daq_comparison, render_daq

        doc["daq"] = daq_comparison(quick=args.quick, progress=progress)
    text = render(doc) if args.mode != "daq" else ""
    text += f"\n\n{render_board(doc['board'])}" if "board" in doc else ""
    text += f"\n\n{render_daq(doc['daq'])}" if "daq" in doc else ""
    print(text.strip("\n"))
    if args.json:
        write_json(doc, args.json)
    if args.plot:
        plot_lateness(runs, cfg.rates_hz, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
