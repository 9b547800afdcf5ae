"""ScanResults: everything one flyscan produced, complete or partial.

Raw stream (every sample with its position), per-line summaries and arrays, the gridded map with
its axes, the engine's statistics, and provenance (plan, versions, timestamps). A scan that was
aborted or failed still has results: the lines acquired so far, with `partial` set.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Optional

import numpy as np

from .config import FlyScanConfig
from .errors import InvalidScanConfig
from .fly_scan import FlyScan, LineState, ScanStatus
from .gridding import GriddedMap, grid_samples
from .lag import DetectorLag, positions_at_lag, resolve_lag
from .samples import RawSamples, SampleFlag


@dataclass(frozen=True)
class LineSummary:
    index: int
    slow_mm: float
    fast_from_mm: float
    fast_to_mm: float
    state: LineState
    t_start_ns: Optional[int]
    t_end_ns: Optional[int]
    samples: int
    #: Samples the engine acquired for this line but dropped on a full record ring (see `dropped_by_line`).
    dropped: int = 0

    @property
    def partial(self) -> bool:
        """The line a scan's end interrupted (some samples acquired, the line not finished), or a line
        that lost samples on a full record ring."""
        return (self.state is LineState.FAILED and self.samples > 0) or self.dropped > 0


@dataclass(frozen=True)
class Provenance:
    """Where the results come from: the plan given to the executor, software versions, UTC times."""

    plan: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)
    started_utc: str = ""
    finished_utc: str = ""
    source: str = ""  # the link URL or a description of the executor

    @staticmethod
    def now_utc() -> str:
        return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class ScanResults:
    scan_id: str
    config: FlyScanConfig
    status: ScanStatus
    raw: RawSamples
    map: GriddedMap
    lines: tuple[LineSummary, ...]
    stats: Mapping[str, Any] = field(default_factory=dict)
    provenance: Provenance = field(default_factory=Provenance)
    error: Optional[str] = None
    #: The detector lag the map was gridded with (estimated or configured), or why there is none.
    lag: DetectorLag = field(default_factory=DetectorLag.none)
    #: A differential scan's baseline (the lines flown with the excitation muted) on the map's grid;
    #: None for other scans.
    baseline: Optional[GriddedMap] = None
    #: The baseline lines' samples as taken (their `line` is the map row they share with the excited line).
    baseline_raw: RawSamples = field(default_factory=RawSamples.empty)

    @property
    def baseline_volts(self) -> np.ndarray:
        """The baseline map (6, n_slow, n_fast); NaN everywhere when the scan was not differential."""
        return self.baseline.volts if self.baseline is not None else np.full_like(self.map.volts, np.nan)

    @property
    def difference_volts(self) -> np.ndarray:
        """Excited map − baseline map, cell by cell (NaN where either is missing, or no baseline)."""
        return self.map.volts - self.baseline_volts

    @property
    def partial(self) -> bool:
        """True unless the scan completed with every line acquired and no sample dropped."""
        return self.status is not ScanStatus.COMPLETED or self.dropped_samples > 0 or any(
            line.state not in (LineState.ACQUIRED, LineState.CORRELATED) for line in self.lines
        )

    @property
    def dropped_samples(self) -> int:
        """Samples the engine acquired but dropped because its record ring was full (exact: the
        engine's count; the sequence numbers skip them)."""
        return int(self.stats.get("dropped_records", 0) or 0)

    @property
    def lines_done(self) -> int:
        return sum(line.state in (LineState.ACQUIRED, LineState.CORRELATED) for line in self.lines)

    @property
    def samples(self) -> int:
        return len(self.raw)

    def line_samples(self, index: int) -> RawSamples:
        """The raw samples of one line (in acquisition order)."""
        return self.raw.for_line(index)

    def line_profile(self, index: int) -> np.ndarray:
        """The gridded row of one line, (6, points_per_line)."""
        return self.map.row(index)


def assemble_results(
    scan: FlyScan,
    raw: RawSamples,
    stats: Optional[Mapping[str, Any]] = None,
    provenance: Optional[Provenance] = None,
    error: Optional[str] = None,
    placed_fast_mm: Optional[np.ndarray] = None,
) -> ScanResults:
    """Results of `scan` from its raw stream: every sample acquired, the interrupted line's included
    (its LineSummary is `partial`), in the raw stream and on the map.

    `placed_fast_mm` replaces the raw fast positions for gridding when a correlation other than
    the engine's model placed the samples. The map places each sample where it was at t − the
    detector lag (`config.detector_lag_ms`, or measured from the scan when that is None).
    """
    placed = raw.fast_mm if placed_fast_mm is None else np.asarray(placed_fast_mm, dtype=np.float64)
    if placed.size != len(raw):
        raise ValueError(f"placed_fast_mm has {placed.size} rows, raw stream {len(raw)}")
    config = scan.config
    lag, fast = resolve_lag(raw, config.detector_lag_ms, placed)
    gridded = grid_samples(fast, raw.slow_mm, raw.channels_volts, config.fast_axis_mm, config.slow_axis_mm)
    dropped = dropped_by_line(raw, int((stats or {}).get("dropped_records", 0) or 0))
    lines = tuple(
        LineSummary(line.index, line.slow_mm, line.fast_from_mm, line.fast_to_mm, line.state, line.t_start_ns,
                    line.t_end_ns, line.samples, dropped.get(line.index, 0))
        for line in scan.lines
    )
    return ScanResults(
        scan.id, config, scan.status, raw, gridded, lines, dict(stats or {}), provenance or Provenance(),
        error, lag=lag,
    )


def with_baseline(results: ScanResults, baseline_raw: RawSamples) -> ScanResults:
    """`results` of a differential scan with its baseline samples gridded on the map's grid, placed at
    t − the lag the map applies (the baseline lines go through the same detection chain)."""
    grid, lag = results.map, results.lag
    fast_mm = positions_at_lag(baseline_raw, lag.lag_ms) if lag.applied and lag.lag_ms else baseline_raw.fast_mm
    baseline = grid_samples(fast_mm, baseline_raw.slow_mm, baseline_raw.channels_volts,
                            grid.fast_axis_mm, grid.slow_axis_mm)
    return replace(results, baseline=baseline, baseline_raw=baseline_raw)


def dropped_by_line(raw: RawSamples, dropped_total: int) -> dict[int, int]:
    """Where the `dropped_total` samples lost on a full ring were: line index -> count.

    The engine numbers every sample it acquires (`seq`), pushed or dropped, so each gap in the
    sequence is a run of dropped samples. A gap inside a line is that line's. A gap between two
    lines belongs to the next line when the previous one's last sample arrived, to the previous
    one when the next one's first sample arrived, and to both when neither did (both lost
    samples, how many each is unknown). Drops before the first sample received go to its line,
    drops after the last received (the count beyond the gaps) to the last line received.
    """
    if dropped_total <= 0:
        return {}
    if not len(raw):
        return {-1: dropped_total}  # no sample received: no line to name
    order = np.argsort(raw.seq, kind="stable")
    seq = raw.seq[order].astype(np.int64)
    line = raw.line[order].astype(np.int64)
    first = (raw.flags[order] & int(SampleFlag.LINE_FIRST)) != 0
    last = (raw.flags[order] & int(SampleFlag.LINE_LAST)) != 0
    counts: dict[int, int] = {}

    def add(index: int, n: int) -> None:
        counts[index] = counts.get(index, 0) + n

    accounted = int(seq[0])
    if accounted:
        add(int(line[0]), accounted)
    for i in np.flatnonzero(np.diff(seq) > 1):
        gap = int(seq[i + 1] - seq[i] - 1)
        accounted += gap
        before, after = int(line[i]), int(line[i + 1])
        if before == after or first[i + 1]:
            add(before, gap)
        elif last[i]:
            add(after, gap)
        else:
            add(before, gap)
            add(after, gap)
    if dropped_total > accounted:
        add(int(line[-1]), dropped_total - accounted)
    return counts
def regrid(results: ScanResults, pitch_mm: Optional[float] = None, lag_ms: Optional[float] = None,
           regridded_from: str = "") -> ScanResults:
    """The same raw stream on another grid: a fast-axis pitch of about `pitch_mm` (the span divided
    into whole cells; None keeps the scan's), the samples placed at t − `lag_ms` (None: measured
    from the data again). The raw stream is the source of truth; the map is a view of it.
    `regridded_from` (the source file) is kept in the statistics.
    """
    config = results.config
    points = config.points_per_line
    if pitch_mm is not None:
        if not (math.isfinite(pitch_mm) and pitch_mm > 0):
            raise InvalidScanConfig("pitch_mm", f"must be a positive number of mm, got {pitch_mm!r}")
        points = max(2, int(round(config.fast_span_mm / pitch_mm)) + 1)
    values = config.to_dict()
    values.update(points_per_line=points, detector_lag_ms=lag_ms)
    new_config = FlyScanConfig.from_dict(values)
    raw = results.raw
    lag, fast = resolve_lag(raw, lag_ms, raw.fast_mm)
    gridded = grid_samples(fast, raw.slow_mm, raw.channels_volts, new_config.fast_axis_mm, new_config.slow_axis_mm)
    stats = dict(results.stats)
    if regridded_from:
        stats["regridded_from"] = regridded_from
    regridded = replace(results, config=new_config, map=gridded, stats=stats, lag=lag)
    return regridded if results.baseline is None else with_baseline(regridded, results.baseline_raw)
