"""AefiFlyer: the Rust flyscan engine as a Bluesky flyer, through the domain's ScanPort.

prepare(FlyScanConfig) → the port's `prepare` (validated plan, motion to the first run-up start,
detector armed); kickoff → `kickoff`; complete → a WatchableAsyncStatus that follows the scan
(lines done out of lines total) until its end, then saves the results in the PyMoDAQ-format HDF5
file `aefi-flyscan` writes; collect → event pages. The four verbs are `domain.lifecycle.Flight`'s
steps, the same ones `execute_scan` loops over, so the bookkeeping (lines closed, correlation,
gridding, partial results) is the domain's.

Two streams leave as documents: `<name>_raw` (one event per detector sample: time, positions,
position uncertainty, line, flags, six channels in V) and `<name>_map` (one event per map row:
the slow position, the fast axis, the six gridded channels and the samples per cell), the same
numbers as the HDF5 file's `raw_*` and `map` datasets.

Stopping: `pause()` (an immediate pause, a second Ctrl-C), `unstage()` and a cancelled `complete`
abort the port — the engine stops the motors — and keep what was acquired; `fly_raster` runs the
last collect in a finalizer, so `RE.abort()` and `RE.stop()` still emit the partial data and leave
a partial, readable file.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from bluesky.protocols import EventPageCollectable, Flyable, Pausable, Preparable, Stageable
from event_model import DataKey, PartialEventPage
from ophyd_async.core import AsyncStatus, Device, WatchableAsyncStatus, WatcherUpdate

from ..domain.config import FlyScanConfig
from ..domain.errors import InvalidTransition, ScanAborted, ScanBusyError, ScanExecutionError
from ..domain.fly_scan import FlyScan, ScanStatus
from ..domain.lifecycle import Flight
from ..domain.measurement import CHANNEL_NAMES
from ..domain.ports import ObserverGroup, ResultsRepository, ScanObserver, ScanPort
from ..domain.results import ScanResults
from ..domain.samples import RawSamples

_Dtype = Literal["number", "integer"]
#: Raw stream columns: (key suffix, RawSamples column, dtype, units).
_RAW_COLUMNS: tuple[tuple[str, str, _Dtype, str], ...] = (
    ("t_ns", "t_ns", "integer", "ns"),
    ("line", "line", "integer", ""),
    ("fast_mm", "fast_mm", "number", "mm"),
    ("slow_mm", "slow_mm", "number", "mm"),
    ("pos_err_mm", "pos_err_mm", "number", "mm"),
    ("flags", "flags", "integer", ""),
)
_NUMPY_DTYPES = {"integer": "<i8", "number": "<f8"}


class AefiFlyer(Device, Preparable, Flyable, EventPageCollectable, Stageable, Pausable):
    """Flies `FlyScanConfig` rasters on one bench; see the module doc for the documents it emits."""

    def __init__(self, scan_port: ScanPort, repository: Optional[ResultsRepository] = None, name: str = "aefi",
                 observers: tuple[ScanObserver, ...] = ()) -> None:
        self._port = scan_port
        self._repository = repository
        self._observers = ObserverGroup(observers)
        self._flight: Optional[Flight] = None
        self._config: Optional[FlyScanConfig] = None
        self._ending: Optional[asyncio.Task[ScanResults]] = None
        self._rows_emitted = 0
        # An abort asked for by the orchestration (pause, unstage, stop_and_keep, abort) ends the
        # scan as it should: `complete` then succeeds with the partial scan instead of failing.
        self._stop_requested = False
        self.saved_to: Optional[str] = None
        super().__init__(name=name)

    @classmethod
    def on_bench(cls, arcus_url: str, board_url: Optional[str] = None, out_dir: Path | str = "aefi-out",
                 file_name: Optional[str] = None, name: str = "aefi", **adapter_options: Any) -> AefiFlyer:
        """A flyer on the Arcus at `arcus_url` (and the board at `board_url`), saving into `out_dir`."""
        from ..bootstrap import build_flyscan

        app = build_flyscan(arcus_url, board_url, out_dir=out_dir, file_name=file_name, **adapter_options)
        return cls(app.scan_port, app.repository, name=name)

    # ---- what the flyer knows --------------------------------------------------------------------
    @property
    def results(self) -> Optional[ScanResults]:
        """The last scan's results once it has ended (complete or partial)."""
        return self._flight.results if self._flight is not None else None

    @property
    def scan_port(self) -> ScanPort:
        return self._port

    @property
    def prepared(self) -> bool:
        """True from a successful prepare on: there is a scan to follow, end and collect."""
        return self._flight is not None

    async def stop_and_keep(self) -> None:
        """Abort the scan if it has not ended (motors stopped) and wait until its results are saved."""
        if self._flight is not None:
            await self._end(abort=self._flight.results is None)

    # ---- Preparable / Flyable --------------------------------------------------------------------
    @AsyncStatus.wrap
    async def prepare(self, value: FlyScanConfig) -> None:
        if not isinstance(value, FlyScanConfig):
            raise TypeError(f"{self.name}: prepare takes a FlyScanConfig, got {type(value).__name__}")
        if self._flight is not None and self._flight.results is None:
            raise ScanBusyError(f"{self.name}: a scan is prepared or flying; complete or abort it first")
        flight = Flight(self._port, FlyScan(value), self._observers)
        self._flight, self._config, self._ending, self._rows_emitted, self.saved_to = flight, value, None, 0, None
        self._stop_requested = False
        try:
            ready = await asyncio.to_thread(flight.prepare)
        except BaseException:
            self._flight = None  # refused or failed before anything flew: nothing to collect
            raise
        if not ready:
            await self._end()
            raise ScanAborted(f"{self.name}: scan {flight.scan.id} aborted on its way to the start")

    @AsyncStatus.wrap
    async def kickoff(self) -> None:
        flight = self._require_flight("kickoff")
        await asyncio.to_thread(flight.kickoff)

    @WatchableAsyncStatus.wrap
    async def complete(self) -> AsyncIterator[WatcherUpdate[int]]:
        flight = self._require_flight("complete")
        total = len(flight.scan.lines)
        started_s = time.monotonic()
        try:
            while True:
                tick_s = time.monotonic()
                progress = await asyncio.to_thread(flight.follow)
                yield WatcherUpdate(current=flight.lines_closed, initial=0, target=total, name=self.name,
                                    unit="lines", fraction=flight.lines_closed / total if total else 1.0,
                                    time_elapsed=time.monotonic() - started_s)
                if progress.finished or flight.status.done:
                    break
                period_s = max(0.0, self._port.progress_period_s - (time.monotonic() - tick_s))
                await asyncio.to_thread(flight.status.wait, period_s)
        except BaseException:
            # cancelled (RunEngine stop/abort/halt) or failed here: the motors stop, the data stay
            await asyncio.shield(self._end(abort=True))
            raise
        results = await self._end()
        if results.status is ScanStatus.ABORTED and self._stop_requested:
            return
        if results.status is not ScanStatus.COMPLETED:
            error = ScanAborted if results.status is ScanStatus.ABORTED else ScanExecutionError
            raise error(f"{self.name}: scan {results.scan_id} {results.status.value} after {results.lines_done} "
                        f"of {total} lines ({results.error}); the acquired lines are saved in {self.saved_to}")

    # ---- Collectable -----------------------------------------------------------------------------
    def describe_collect(self) -> dict[str, dict[str, DataKey]]:
        config = self._config
        if config is None:
            raise InvalidTransition(f"{self.name}: describe_collect before prepare")
        n_fast = int(config.points_per_line)
        source = f"aefi-flyscan:{self.name}"
        raw: dict[str, DataKey] = {}
        for suffix, _, dtype, units in _RAW_COLUMNS:
            raw[self._key(suffix)] = DataKey(source=source, dtype=dtype, dtype_numpy=_NUMPY_DTYPES[dtype], shape=[],
                                             units=units)
        for channel in CHANNEL_NAMES:
            raw[self._key(channel)] = DataKey(source=source, dtype="number", dtype_numpy="<f8", shape=[], units="V")
        grid: dict[str, DataKey] = {
            self._key("map_slow_mm"): DataKey(source=source, dtype="number", dtype_numpy="<f8", shape=[], units="mm"),
            self._key("map_fast_mm"): DataKey(source=source, dtype="array", dtype_numpy="<f8", shape=[n_fast],
                                              units="mm"),
            self._key("map_counts"): DataKey(source=source, dtype="array", dtype_numpy="<i8", shape=[n_fast],
                                             units=""),
        }
        for channel in CHANNEL_NAMES:
            grid[self._key(f"map_{channel}")] = DataKey(source=source, dtype="array", dtype_numpy="<f8",
                                                        shape=[n_fast], units="V")
        return {self.raw_stream: raw, self.map_stream: grid}

    def collect_pages(self) -> Iterator[PartialEventPage]:
        flight = self._require_flight("collect")
        raw = flight.new_samples()
        if len(raw):
            yield self._raw_page(raw)
        results = flight.results
        if results is not None and self._rows_emitted == 0:
            self._rows_emitted = results.map.shape[0]
            yield self._map_page(results)

    @property
    def raw_stream(self) -> str:
        return f"{self.name}_raw"

    @property
    def map_stream(self) -> str:
        return f"{self.name}_map"

    # ---- Stageable / Pausable --------------------------------------------------------------------
    @AsyncStatus.wrap
    async def stage(self) -> None:
        pass  # the links are leased in prepare, when the scan is known

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        if self._flight is not None and self._flight.results is None:
            await self._end(abort=True)

    def pause(self) -> None:
        # A flyscan cannot stop mid-line and go on later: pausing stops the motors, keeping the data;
        # RE.abort()/RE.stop() then close the run with the lines acquired (RE.resume() too: the
        # scan does not fly on).
        self.abort()

    def resume(self) -> None:
        pass  # the scan was stopped by pause(): its completion is done, with the lines acquired

    def abort(self) -> None:
        """Stop the scan now (motors stopped), keeping what was acquired; returns at once."""
        self._stop_requested = True
        self._port.abort()

    # ---- internals -------------------------------------------------------------------------------
    async def _end(self, abort: bool = False) -> ScanResults:
        """Once per scan: (abort,) wait for the end, build and save the results (complete or partial)."""
        flight = self._require_flight("end")
        if abort:
            self.abort()
        if self._ending is None:
            self._ending = asyncio.ensure_future(asyncio.to_thread(self._finish, flight))
        return await self._ending

    def _finish(self, flight: Flight) -> ScanResults:
        flight.status.wait()
        results = flight.finish()
        if self._repository is not None:
            self.saved_to = self._repository.save(results)
        return results

    def _require_flight(self, verb: str) -> Flight:
        if self._flight is None:
            raise InvalidTransition(f"{self.name}: {verb} before prepare")
        return self._flight

    def _key(self, suffix: str) -> str:
        return f"{self.name}_{suffix}"

    def _raw_page(self, raw: RawSamples) -> PartialEventPage:
        # the engine stamps samples on the monotonic clock (perf_counter's on every platform)
        epoch_s = time.time() + (raw.t_ns.astype(np.float64) - time.perf_counter_ns()) * 1e-9
        data: dict[str, list[Any]] = {}
        for suffix, column, _, _ in _RAW_COLUMNS:
            data[self._key(suffix)] = getattr(raw, column).tolist()
        for k, channel in enumerate(CHANNEL_NAMES):
            data[self._key(channel)] = raw.channels_volts[:, k].tolist()
        stamps = epoch_s.tolist()
        return PartialEventPage(data=data, time=stamps, timestamps={key: stamps for key in data})

    def _map_page(self, results: ScanResults) -> PartialEventPage:
        grid = results.map
        rows = grid.shape[0]
        data: dict[str, list[Any]] = {
            self._key("map_slow_mm"): grid.slow_axis_mm.tolist(),
            self._key("map_fast_mm"): [grid.fast_axis_mm.tolist()] * rows,
            self._key("map_counts"): grid.counts.astype(np.int64).tolist(),
        }
        for k, channel in enumerate(CHANNEL_NAMES):
            data[self._key(f"map_{channel}")] = grid.volts[k].tolist()
        now_s = time.time()
        return PartialEventPage(data=data, time=[now_s] * rows, timestamps={key: [now_s] * rows for key in data})
