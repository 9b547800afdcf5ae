"""What `aefi-bench` prints and writes: the human table, the JSON document, the lateness plot."""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np

LOADS = ("idle", "loaded")
LOOPS = ("legacy", "rust")
LOOP_LABEL = {"legacy": "Python loop", "rust": "Rust engine"}

#: ratio name -> (dotted path into each side's results, higher is better, is a count)
def ratio_keys(rates_hz: Sequence[float]) -> dict[str, tuple[str, bool, bool]]:
    keys: dict[str, tuple[str, bool, bool]] = {
        "p99_lateness": ("runs.loaded.1000.lateness_us.p99", False, False),
        "poll_rate": ("runs.idle.1000.poll_rate_hz", True, False),
        "poll_rate_loaded": ("runs.loaded.1000.poll_rate_hz", True, False),
        "wire_fraction": ("runs.idle.1000.wire_fraction", True, False),
        "missed_triggers": ("runs.loaded.1000.missed", False, True),
        "position_error_p99": ("runs.loaded.1000.pos_err_steps.p99", False, False),
        "cpu_percent": ("runs.idle.1000.cpu_percent", False, False),
        "map_wall_time": ("map.wall_time_s", False, False),
    }
    for load in LOADS:
        for rate in rates_hz:
            r = rate_key(rate)
            keys[f"p99_lateness_{load}_{r}hz"] = (f"runs.{load}.{r}.lateness_us.p99", False, False)
            keys[f"missed_triggers_{load}_{r}hz"] = (f"runs.{load}.{r}.missed", False, True)
            keys[f"poll_rate_{load}_{r}hz"] = (f"runs.{load}.{r}.poll_rate_hz", True, False)
    return keys


def rate_key(rate_hz: float) -> str:
    return f"{rate_hz:g}"


def targets(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The engine's targets (issue 8), each with the measured value and whether it is met."""
    ratios = doc["ratios"]
    rust_idle_1k = doc["rust"]["runs"].get("idle", {}).get("1000", {})
    rust_loaded_1k = doc["rust"]["runs"].get("loaded", {}).get("1000", {})
    checks = {
        "p99_lateness_1khz_loaded_ratio": (ratios.get("p99_lateness"), 100.0),
        "poll_rate_ratio_idle": (ratios.get("poll_rate"), 1.5),
        "poll_rate_ratio_loaded": (ratios.get("poll_rate_loaded"), 1.5),
        "rust_wire_fraction_idle": (rust_idle_1k.get("wire_fraction"), 0.90),
        "rust_wire_fraction_loaded": (rust_loaded_1k.get("wire_fraction"), 0.90),
        "map_wall_time_ratio": (ratios.get("map_wall_time"), 20.0),
    }
    out = {}
    for name, (value, target) in checks.items():
        met = value is not None and math.isfinite(value) and value >= target
        out[name] = {"value": value, "target": target, "met": bool(met)}
    return out


def format_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain aligned text table (right-aligned numbers, left-aligned first column)."""
    rows = [list(map(str, r)) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = enumerate(zip(cells, widths, strict=False))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in padded)

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _num(value: Optional[float], fmt: str = "{:.1f}") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return fmt.format(value)


def runs_table(doc: Mapping[str, Any]) -> str:
    headers = ["loop / load / rate", "p50 µs", "p99 µs", "max µs", "missed", "polls/s", "% wire", "% wire+ta",
               "pos err p99 (steps)", "CPU %"]
    rows = []
    for load in LOADS:
        for rate in doc["config"]["rates_hz"]:
            for loop in LOOPS:
                run = doc[loop]["runs"].get(load, {}).get(rate_key(rate))
                if run is None:
                    continue
                late = run["lateness_us"]
                rows.append([
                    f"{LOOP_LABEL[loop]} / {load} / {rate:g} Hz",
                    _num(late["p50"], "{:.2f}"), _num(late["p99"], "{:.2f}"), _num(late["max"]),
                    f"{run['missed']}/{run['deadlines']}",
                    _num(run["poll_rate_hz"], "{:.0f}"), _num(100 * run["wire_fraction"], "{:.0f}"),
                    _num(100 * run["achievable_fraction"], "{:.0f}"),
                    _num(run.get("pos_err_steps", {}).get("p99"), "{:.2f}"), _num(run["cpu_percent"], "{:.0f}"),
                ])
    return format_table(headers, rows)


def map_table(doc: Mapping[str, Any]) -> str:
    rows = []
    for loop in LOOPS:
        m = doc[loop].get("map")
        if m:
            rows.append([f"{LOOP_LABEL[loop]}: {m['kind']}", _num(m["wall_time_s"] / 60, "{:.1f}"), m["method"]])
    return format_table(["81 × 81 map", "minutes", "how"], rows)


def ratios_lines(doc: Mapping[str, Any]) -> str:
    main = ("p99_lateness", "poll_rate", "poll_rate_loaded", "wire_fraction", "missed_triggers", "position_error_p99",
            "cpu_percent", "map_wall_time")
    rows = [[name, _num(doc["ratios"].get(name), "{:.2f}×")] for name in main]
    table = format_table(["rust over legacy (>1 = engine better)", "ratio"], rows)
    target_rows = [[name, _num(t["value"], "{:.3g}"), f"≥ {t['target']:g}", "met" if t["met"] else "MISSED"]
                   for name, t in doc["targets"].items()]
    return table + "\n\n" + format_table(["target", "measured", "needed", ""], target_rows)


def engine_table(rows: Sequence[Mapping[str, Any]]) -> str:
    headers = ["detector / rate / load", "p50 µs", "p99 µs", "max µs", "missed", "ticks", "samples", "RT thread"]
    out = []
    for r in rows:
        rt = r.get("rt") or {}
        rt_text = "FIFO" if rt.get("fifo") else "no FIFO"
        if rt.get("pinned_cpu") is not None:
            rt_text += f", CPU {rt['pinned_cpu']}"
        label = f"{r.get('detector', 'virtual_probe')} / {r['rate_hz']:g} Hz / {r['load']}"
        out.append([label, _num(r["p50_us"], "{:.1f}"), _num(r["p99_us"], "{:.1f}"), _num(r["max_us"], "{:.1f}"),
                    str(r["missed"]), str(r["count"]),
                    str(r.get("samples", "")), rt_text])
    return format_table(headers, out)


def render(doc: Mapping[str, Any]) -> str:
    m = doc["machine"]
    cfg = doc["config"]
    parts = [f"aefi-bench on {m['cpu']} ({m['cores']} cores), Linux {m['kernel']}, Python {m['python']}, "
             f"load average {m['load_avg_1min']:.2f} at the start"]
    if "legacy" in doc:
        parts += [f"Both loops on one aefi-arcus-sim process (PTY, {cfg['baud']} baud wire timing), "
                  f"{cfg['duration_s']:g} s per run, fly speed {cfg['speed_pps']:g} pps",
                  "", runs_table(doc), "", map_table(doc), "", ratios_lines(doc)]
        rt = doc["rust"].get("rt")
        if rt:
            parts += ["", f"Rust RT thread: {rt.get('detail', rt)}"]
    if doc.get("engine_table"):
        secs = doc["engine_table"][0]["duration_s"]
        parts += ["", "Engine real-time loop (trigger_benchmark: pacer, detector, ring; the simulated Arcus driven "
                      f"meanwhile), {secs:g} s per row, with and without a spinning Python thread:",
                  engine_table(doc["engine_table"])]
    return "\n".join(parts)


def write_json(doc: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(json_safe(doc), indent=2, sort_keys=False) + "\n")


def json_safe(node: Any) -> Any:
    """`node` with every NaN/inf float as None: JSON has neither (Python would write `Infinity`,
    which strict readers refuse), and a figure that does not exist is null."""
    if isinstance(node, float):
        return node if math.isfinite(node) else None
    if isinstance(node, Mapping):
        return {str(k): json_safe(v) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [json_safe(v) for v in node]
    if isinstance(node, np.generic):
        return json_safe(node.item())
    return node


def plot_lateness(runs: Sequence[Any], rates_hz: Sequence[float], path: Path) -> None:
    """Lateness distributions (complementary CDF, log-log) of both loops, one panel per rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rates_hz), figsize=(5.2 * len(rates_hz), 4.2), sharey=True, squeeze=False)
    style = {("legacy", "idle"): ("tab:orange", "-"), ("legacy", "loaded"): ("tab:red", "-"),
             ("rust", "idle"): ("tab:blue", "-"), ("rust", "loaded"): ("tab:purple", "-")}
    for ax, rate in zip(axes[0], rates_hz, strict=True):
        for run in runs:
            if run.rate_hz != rate:
                continue
            color, ls = style[(run.loop, run.load)]
            label = f"{LOOP_LABEL[run.loop]}, {run.load}"
            late_us = run_lateness_us(run)
            if late_us is not None and late_us.size:
                x = np.sort(np.maximum(late_us, 0.01))
                ccdf = 1.0 - np.arange(x.size) / x.size
                ax.step(x, ccdf, where="post", color=color, ls=ls, label=label)
            else:
                q = run.figures["lateness_us"]
                ax.plot([q["p50"], q["p99"], q["max"]], [0.5, 0.01, 1.0 / max(run.figures["triggers"], 1)],
                        "o--", color=color, label=label + " (p50/p99/max)")
        ax.axvline(1e6 / rate, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"{rate:g} Hz software trigger (period dotted)")
        ax.set_xlabel("lateness (µs)")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("Software-trigger lateness, Python loop vs Rust engine, idle and with a CPU-bound Python thread "
                 "(Rust curves recomputed from its sample stamps; dots = its own p50/p99/max when that fails)",
                 fontsize=9)
    axes[0][0].set_ylabel("fraction of triggers later than x")
    axes[0][-1].legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_lateness_us(run: Any) -> Optional[np.ndarray]:
    if run.lateness_ns is None:
        return None
    return np.asarray(run.lateness_ns, dtype=np.float64) / 1e3
