"""Statistics of `aefi-bench` on plain numbers: lateness, rates, errors, improvement ratios.

Both loops are summarised by the same functions, so a figure of the Python loop and of the Rust
engine always means the same thing. Percentiles use the inverted CDF (the smallest value with at
least q of the samples at or below it), which is also what HdrHistogram's `value_at_quantile`
reports.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional

import numpy as np

#: 8N1 framing: a start bit, 8 data bits, a stop bit.
BITS_PER_BYTE = 10


@dataclass(frozen=True)
class LatenessSummary:
    """Software-trigger lateness (fired − deadline) of one run, in microseconds."""

    p50_us: float
    p99_us: float
    max_us: float
    count: int  # triggers fired
    missed: int  # deadlines skipped or fired a whole period (or more) late

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ErrorSummary:
    """Absolute position error against the simulator's ground truth, in steps."""

    p50_steps: float
    p99_steps: float
    max_steps: float
    count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: Sequence[float] | np.ndarray, q_percent: float) -> float:
    """The `q_percent` percentile (inverted CDF); NaN for an empty input."""
    if not 0 <= q_percent <= 100:
        raise ValueError(f"q_percent must be in [0, 100], got {q_percent}")
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        return math.nan
    return float(np.percentile(arr, q_percent, method="inverted_cdf"))


def lateness_summary(lateness_ns: Sequence[int] | np.ndarray, period_ns: int, skipped: int = 0) -> LatenessSummary:
    """Summarise trigger lateness; a trigger is missed when skipped or ≥ one period late."""
    if period_ns <= 0:
        raise ValueError(f"period_ns must be > 0 ns, got {period_ns}")
    if skipped < 0:
        raise ValueError(f"skipped must be >= 0, got {skipped}")
    late = np.asarray(lateness_ns, dtype=np.float64)
    # Early firing does not happen on an absolute schedule, but a clock read before the deadline
    # would be a negative lateness: count it as on time rather than as a negative figure.
    late = np.clip(late, 0.0, None)
    missed = int(skipped + np.count_nonzero(late >= period_ns))
    return LatenessSummary(
        p50_us=percentile(late, 50) / 1e3,
        p99_us=percentile(late, 99) / 1e3,
        max_us=float(late.max()) / 1e3 if late.size else math.nan,
        count=int(late.size),
        missed=missed,
    )


def lateness_from_stamps(t_ns: Sequence[int] | np.ndarray, rate_hz: float, cluster_ns: float = 200.0) -> np.ndarray:
    """Per-sample lateness (ns) of triggers stamped when they fired, on an unknown absolute grid.

    The schedule is t_start + k/rate; only the stamps are known. Each stamp's phase on the grid
    is (t − t₀) mod period. Most triggers fire within a microsecond of their deadline, so the
    densest `cluster_ns` window of phases holds the deadline; its earliest phase is taken as the
    grid (lateness 0), and every stamp's lateness is its phase after it, modulo the period. A
    trigger a whole period late is indistinguishable from one on time: the pacer skips those
    deadlines instead of firing them, and counts them as missed.
    """
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0 Hz, got {rate_hz}")
    t = np.asarray(t_ns, dtype=np.int64)
    if t.size == 0:
        return np.zeros(0)
    period_ns = 1e9 / rate_hz
    phase = np.mod((t - t[0]).astype(np.float64), period_ns)
    order = np.sort(phase)
    # Densest window on the circle: count phases in [p, p + cluster) for each p (wrapping).
    wrapped = np.concatenate([order, order + period_ns])
    counts = np.searchsorted(wrapped, order + cluster_ns, side="left") - np.arange(order.size)
    grid = order[int(np.argmax(counts))]
    return np.mod(phase - grid, period_ns)


def error_summary(errors_steps: Sequence[float] | np.ndarray) -> ErrorSummary:
    """Summarise |estimate − truth| (steps); NaN entries (no truth there) are left out."""
    err = np.abs(np.asarray(errors_steps, dtype=np.float64))
    err = err[np.isfinite(err)]
    return ErrorSummary(
        p50_steps=percentile(err, 50),
        p99_steps=percentile(err, 99),
        max_steps=float(err.max()) if err.size else math.nan,
        count=int(err.size),
    )


def wire_limit_hz(baud: int, query_bytes: int, reply_bytes: float) -> float:
    """Most round trips per second the wire allows (bytes both ways at 10 bits, no turnaround)."""
    if baud <= 0:
        raise ValueError(f"baud must be > 0, got {baud}")
    if query_bytes <= 0 or reply_bytes <= 0:
        raise ValueError(f"query_bytes and reply_bytes must be > 0, got {query_bytes}, {reply_bytes}")
    return baud / (BITS_PER_BYTE * (query_bytes + reply_bytes))


def position_reply_bytes(positions_steps: Iterable[float]) -> float:
    """Mean length of the `PX` replies that carried these positions (digits, sign, CR)."""
    lengths = [len(str(int(round(p)))) + 1 for p in positions_steps]
    if not lengths:
        raise ValueError("positions_steps is empty: no reply to measure")
    return float(np.mean(lengths))


def rate_hz(stamps_ns: Sequence[int] | np.ndarray) -> float:
    """Events per second over the span of the stamps: (n − 1) / (last − first)."""
    t = np.asarray(stamps_ns, dtype=np.float64)
    if t.size < 2 or t[-1] <= t[0]:
        return 0.0
    return float((t.size - 1) / ((t[-1] - t[0]) / 1e9))


def improvement(legacy: Optional[float], rust: Optional[float], higher_is_better: bool = False,
                count: bool = False) -> Optional[float]:
    """How many times better the engine is than the legacy loop (> 1 = better).

    For figures where lower is better it is legacy / rust, otherwise rust / legacy. For counts
    (`count=True`), a zero is taken as one, so the ratio is a lower bound instead of infinity
    (0 missed against 500 missed reads "≥ 500×"). None when a figure is missing or not finite.
    """
    if legacy is None or rust is None or not (math.isfinite(legacy) and math.isfinite(rust)):
        return None
    if count:
        legacy, rust = max(legacy, 1.0), max(rust, 1.0)
    num, den = (rust, legacy) if higher_is_better else (legacy, rust)
    if den <= 0:
        return None
    return float(num / den)


def trapezoid_move_s(distance_steps: float, low_speed_pps: float, high_speed_pps: float,
                     accel_s: float, decel_s: Optional[float] = None) -> float:
    """Duration of an Arcus trapezoid move (notes/arcus-protocol.md §5, "Move duration").

    Starts at LS, ramps to HS in `accel_s`, cruises, ramps down in `decel_s`; a move too short for
    both ramps becomes a triangle using the acceleration ramp for both sides (manual App. A.2).
    """
    if distance_steps < 0:
        raise ValueError(f"distance_steps must be >= 0, got {distance_steps}")
    if not 0 < low_speed_pps <= high_speed_pps:
        raise ValueError(f"need 0 < low_speed_pps <= high_speed_pps, got {low_speed_pps}, {high_speed_pps}")
    if accel_s <= 0:
        raise ValueError(f"accel_s must be > 0 s, got {accel_s}")
    decel_s = accel_s if decel_s is None else decel_s
    if decel_s <= 0:
        raise ValueError(f"decel_s must be > 0 s, got {decel_s}")
    if distance_steps == 0:
        return 0.0
    v0, v1 = low_speed_pps, high_speed_pps
    ramp_up, ramp_down = (v0 + v1) / 2 * accel_s, (v0 + v1) / 2 * decel_s
    if distance_steps >= ramp_up + ramp_down:
        return accel_s + decel_s + (distance_steps - ramp_up - ramp_down) / v1
    if v1 == v0:
        return distance_steps / v0
    accel_pps2 = (v1 - v0) / accel_s
    peak_pps = math.sqrt(v0 * v0 + accel_pps2 * distance_steps)
    return 2 * (peak_pps - v0) / accel_pps2


def ratios_table(legacy: Mapping[str, Any], rust: Mapping[str, Any],
                 keys: Mapping[str, tuple[str, bool, bool]]) -> dict[str, Optional[float]]:
    """Improvement ratios for named figures.

    `keys` maps a ratio name to (dotted path into both result dicts, higher_is_better, count).
    """
    out: dict[str, Optional[float]] = {}
    for name, (path, higher_is_better, count) in keys.items():
        out[name] = improvement(_dig(legacy, path), _dig(rust, path), higher_is_better, count)
    return out


def _dig(tree: Mapping[str, Any], dotted: str) -> Optional[float]:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    if isinstance(node, (int, float)) and not isinstance(node, bool):
        return float(node)
    return None
