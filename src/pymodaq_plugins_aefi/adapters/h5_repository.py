"""ScanResults ↔ PyMoDAQ-format HDF5, written and read with pymodaq_data's own savers.

Layout (what H5Browser shows), under `/RawData/Detector000` titled "AEFI flyscan":

    Data2D/CH00 "map"          six channels (V), axes: slow axis (index 0) and fast axis (index 1) in mm
    Data2D/CH01 "counts"       samples averaged in each map cell
    Data1D/CH00 "raw_volts"    the raw stream's six channels (V) against time since the first sample (s)
    Data1D/CH01 "raw_positions" fast_mm, slow_mm, pos_err_mm of every sample
    Data1D/CH02 "raw_index"    seq, t_ns (monotonic ns), line, flags of every sample, exact integer types
    Data1D/CH03 "raw_encoder"  encoder_counts: the fast axis' encoder at every sample (counts; NaN without one)
    then, beside the map (same dim, same axes): "baseline" (the differential scan's lines flown with the
    excitation muted, NaN everywhere for other scans), "difference" (map − baseline), "baseline_counts";
    and for a differential scan its baseline samples: "baseline_raw_volts", "baseline_raw_positions",
    "baseline_raw_index", "baseline_raw_encoder" (as the raw stream; `line` is the map row).

The detector group carries the scan's identity and status (`scan_id`, `status` completed / aborted /
failed, `partial`, `error`), the detector lag the map was gridded with (`detector_lag_ms`, NaN when
unknown; `detector_lag_uncertainty_ms`, NaN when unknown; `detector_lag_source` estimated /
configured / unknown; `detector_lag_applied`) and JSON attributes: `config`, `plan`, `stats`,
`provenance`, `lines`, `detector_lag` (the same record with the number of lines it rests on and a
note).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pymodaq_data.data import Axis, DataDim, DataSource, DataToExport, DataWithAxes
from pymodaq_data.h5modules.data_saving import DataLoader, DataToExportSaver
from pymodaq_data.h5modules.saving import H5SaverLowLevel

from ..domain.config import FlyScanConfig
from ..domain.events import FlyScanAborted, FlyScanCompleted, FlyScanEvent, FlyScanFailed, FlyScanLineSamples
from ..domain.fly_scan import FlyScan, LineState, ScanStatus
from ..domain.gridding import GriddedMap, grid_samples
from ..domain.lag import DetectorLag, resolve_lag
from ..domain.measurement import CHANNEL_NAMES
from ..domain.ports import ResultsRepository
from ..domain.results import LineSummary, Provenance, ScanResults
from ..domain.samples import RawSamples

DETECTOR_TITLE = "AEFI flyscan"
_INDEX_COLUMNS = ("seq", "t_ns", "line", "flags")
_POSITION_COLUMNS = ("fast_mm", "slow_mm", "pos_err_mm")
_ENCODER_COLUMNS = ("encoder_counts",)
_RAW_COLUMNS = _INDEX_COLUMNS + _POSITION_COLUMNS + _ENCODER_COLUMNS
JOURNAL_GROUP = "Journal"
_LINE_ENTRIES = "line_entries"
#: Bytes one sample takes in a file: seq, t_ns, line, three positions and the encoder (8 each), flags (4), six
#: channels (8 each).
SAMPLE_BYTES = 8 * 7 + 4 + 8 * 6
#: Room kept free on top of what a write needs: HDF5's metadata, and other writers.
_MARGIN_BYTES = 2_000_000


def file_bytes(samples: int, map_cells: int = 0) -> int:
    """What a results file of `samples` samples and a map of `map_cells` cells takes, with margin."""
    # per cell: the map, the baseline and the difference (6 channels each) and two counts
    return int(1.5 * (samples * SAMPLE_BYTES + 20 * map_cells * 8)) + 200_000


def _check_room(folder: Path, needed_bytes: int) -> None:
    """HDF5 cannot be trusted to fail cleanly on a full disk (its cache is left dirty, and the
    process may crash later): a write goes ahead only when the room is there."""
    free = shutil.disk_usage(folder).free
    if free < needed_bytes + _MARGIN_BYTES:
        raise OSError(errno.ENOSPC, f"{free / 1e6:.1f} MB free in {folder}, {needed_bytes / 1e6:.1f} MB needed "
                                    f"(+{_MARGIN_BYTES / 1e6:.0f} MB kept free)")


def _json(value: Any) -> str:
    def plain(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    return json.dumps(value, default=plain)


class H5ResultsRepository(ResultsRepository):
    """Saves each scan to `<directory>/<file_name>` (default `<scan_id>.h5`).

    While a scan runs the file is its line journal (H5LineJournal); at the end the PyMoDAQ file is
    written beside it and replaces it in one rename. If that fails (disk full, folder gone), the
    results go to `<system temp folder>/aefi-<scan_id>.h5`, `save` returns that path and
    `last_error` says why; the journal stays where it was, with every line.
    """

    def __init__(self, directory: Path | str, file_name: Optional[str] = None) -> None:
        self.directory = Path(directory)
        self.file_name = file_name
        self.last_error: Optional[str] = None
        self.journal: Optional[H5LineJournal] = None  # the last scan's

    def path_for(self, results: ScanResults) -> Path:
        return self._path(results.scan_id)

    def _path(self, scan_id: str) -> Path:
        return self.directory / (self.file_name or f"{scan_id}.h5")

    def open_journal(self, scan: FlyScan) -> H5LineJournal:
        path = self._path(scan.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = H5LineJournal(path, scan.id, scan.config)
        return self.journal

    def save(self, results: ScanResults) -> str:
        path = self.path_for(results)
        part = path.with_name(f"{path.stem}.part{path.suffix}")  # pymodaq_data wants the .h5 ending
        self.last_error = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _check_room(path.parent, file_bytes(results.samples + len(results.baseline_raw), results.map.counts.size))
            self._write(results, part)
            os.replace(part, path)
            return str(path)
        except Exception as err:  # whatever the cause, the samples must land somewhere
            self.last_error = f"could not write {path}: {type(err).__name__}: {err}"
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
        fallback = Path(tempfile.gettempdir()) / f"aefi-{results.scan_id}.h5"
        _check_room(fallback.parent, file_bytes(results.samples + len(results.baseline_raw), results.map.counts.size))
        self._write(results, fallback)
        return str(fallback)

    def _write(self, results: ScanResults, path: Path) -> None:
        h5 = H5SaverLowLevel.from_file(path, save_type="custom", new_file=True, metadata=self._root_metadata(results))
        try:
            group = h5.add_det_group(h5.raw_group, title=DETECTOR_TITLE, metadata=self._group_metadata(results))
            DataToExportSaver(h5).add_data(group, self._to_dte(results))
        finally:
            h5.close_file()

    def load(self, location: str) -> ScanResults:
        return load_results(location)

    def write_file(self, results: ScanResults, path: Path | str) -> str:
        """Write `results` to `path` (through a `.part` file renamed at the end); raises on failure,
        leaving no partial file."""
        path = Path(path)
        part = path.with_name(f"{path.stem}.part{path.suffix}")
        try:
            _check_room(path.parent, file_bytes(results.samples, results.map.counts.size))
            self._write(results, part)
            os.replace(part, path)
        finally:
            with contextlib.suppress(OSError):
                part.unlink(missing_ok=True)
        return str(path)

    @staticmethod
    def _root_metadata(results: ScanResults) -> dict[str, Any]:
        return {"scan_id": results.scan_id, "status": results.status.value, "partial": bool(results.partial),
                "dropped_samples": results.dropped_samples}

    @staticmethod
    def _group_metadata(results: ScanResults) -> dict[str, Any]:
        provenance, lag = results.provenance, results.lag
        nan = float("nan")
        return {
            "detector_lag_ms": nan if lag.lag_ms is None else float(lag.lag_ms),
            "detector_lag_uncertainty_ms": nan if lag.uncertainty_ms is None else float(lag.uncertainty_ms),
            "detector_lag_source": lag.source,
            "detector_lag_applied": bool(lag.applied),
            "detector_lag": _json(lag.to_dict()),
            "scan_id": results.scan_id,
            "status": results.status.value,
            "partial": bool(results.partial),
            # samples acquired but lost on a full record ring (exact; also per line in `lines`)
            "dropped_samples": results.dropped_samples,
            "error": results.error or "",
            "stall_detection": results.config.stall_detection,
            "config": _json(results.config.to_dict()),
            "plan": _json(dict(provenance.plan)),
            "stats": _json(dict(results.stats)),
            "provenance": _json(
                {"versions": dict(provenance.versions), "started_utc": provenance.started_utc,
                 "finished_utc": provenance.finished_utc, "source": provenance.source}
            ),
            "lines": _json([
                {"index": line.index, "slow_mm": line.slow_mm, "fast_from_mm": line.fast_from_mm,
                 "fast_to_mm": line.fast_to_mm, "state": line.state.value, "t_start_ns": line.t_start_ns,
                 "t_end_ns": line.t_end_ns, "samples": line.samples, "dropped": line.dropped,
                 "partial": line.partial}
                for line in results.lines
            ]),
        }

    @staticmethod
    def _to_dte(results: ScanResults) -> DataToExport:
        config, grid = results.config, results.map
        if grid.shape[0] == 1:
            # PyMoDAQ reads a one-row 2D map back as 1D (and a one-value axis has no spacing): a
            # single-line scan's map is saved as the line it is, the slow position in the config.
            map_dim, rows = DataDim.Data1D, (lambda image: image[0].copy())
            map_axes = [Axis(f"{config.fast_axis} (fast)", units="mm", data=grid.fast_axis_mm.copy(), index=0)]
        else:
            map_dim, rows = DataDim.Data2D, (lambda image: image.copy())
            map_axes = [
                Axis(f"{config.slow_axis} (slow)", units="mm", data=grid.slow_axis_mm.copy(), index=0),
                Axis(f"{config.fast_axis} (fast)", units="mm", data=grid.fast_axis_mm.copy(), index=1),
            ]
        data = [
            DataWithAxes("map", source=DataSource.raw, dim=map_dim, units="V", labels=list(CHANNEL_NAMES),
                         data=[rows(grid.volts[c]) for c in range(len(CHANNEL_NAMES))], axes=map_axes),
            DataWithAxes("counts", source=DataSource.raw, dim=map_dim, labels=["samples per cell"],
                         data=[rows(grid.counts.astype(np.float64))], axes=[a.copy() for a in map_axes]),
        ]
        data += _raw_dwas("raw", results.raw)
        # after the raw stream: a single-line scan's map is 1D, and the raw stream keeps its channels
        baseline_counts = results.baseline.counts if results.baseline is not None else np.zeros_like(grid.counts)
        data += [
            DataWithAxes("baseline", source=DataSource.raw, dim=map_dim, units="V", labels=list(CHANNEL_NAMES),
                         data=[rows(results.baseline_volts[c]) for c in range(len(CHANNEL_NAMES))],
                         axes=[a.copy() for a in map_axes]),
            DataWithAxes("difference", source=DataSource.raw, dim=map_dim, units="V", labels=list(CHANNEL_NAMES),
                         data=[rows(results.difference_volts[c]) for c in range(len(CHANNEL_NAMES))],
                         axes=[a.copy() for a in map_axes]),
            DataWithAxes("baseline_counts", source=DataSource.raw, dim=map_dim, labels=["samples per cell"],
                         data=[rows(baseline_counts.astype(np.float64))], axes=[a.copy() for a in map_axes]),
        ]
        if results.config.differential:
            data += _raw_dwas("baseline_raw", results.baseline_raw)
        return DataToExport("AEFI flyscan", data=data)


def _raw_dwas(prefix: str, raw: RawSamples) -> list[DataWithAxes]:
    """A raw stream as four 1D data: channels (V), positions (mm), index columns, the encoder (counts; NaN
    without one), against time (s)."""
    if len(raw) < 2:  # PyMoDAQ squeezes a one-point signal to 0D; a line has far more samples
        return []
    time_axis = [Axis("time", units="s", data=(raw.t_ns - raw.t_ns[0]) * 1e-9, index=0)]
    return [
        DataWithAxes(f"{prefix}_volts", source=DataSource.raw, dim=DataDim.Data1D, units="V",
                     labels=list(CHANNEL_NAMES),
                     data=[raw.channels_volts[:, c].copy() for c in range(len(CHANNEL_NAMES))], axes=time_axis),
        DataWithAxes(f"{prefix}_positions", source=DataSource.raw, dim=DataDim.Data1D, units="mm",
                     labels=list(_POSITION_COLUMNS), data=[getattr(raw, n).copy() for n in _POSITION_COLUMNS],
                     axes=[a.copy() for a in time_axis]),
        DataWithAxes(f"{prefix}_index", source=DataSource.raw, dim=DataDim.Data1D, labels=list(_INDEX_COLUMNS),
                     data=[getattr(raw, n).copy() for n in _INDEX_COLUMNS], axes=[a.copy() for a in time_axis]),
        DataWithAxes(f"{prefix}_encoder", source=DataSource.raw, dim=DataDim.Data1D, units="counts",
                     labels=list(_ENCODER_COLUMNS), data=[raw.encoder_counts.copy()],
                     axes=[a.copy() for a in time_axis]),
    ]


def _load_named(loader: DataLoader, group_path: str, dim: str, name: str) -> Optional[DataWithAxes]:
    """The data called `name` under a dim of the detector group (channels are numbered in saving order)."""
    for k in range(32):
        dwa = _load_channel(loader, group_path, dim, f"CH{k:02d}")
        if dwa is None:
            return None
        if dwa.name == name:
            return dwa
    return None


def _raw_from(volts_dwa: Optional[DataWithAxes], pos_dwa: Optional[DataWithAxes],
              index_dwa: Optional[DataWithAxes], encoder_dwa: Optional[DataWithAxes] = None) -> RawSamples:
    if volts_dwa is None or pos_dwa is None or index_dwa is None:
        return RawSamples.empty()
    columns = dict(zip(_INDEX_COLUMNS, index_dwa.data, strict=False))
    columns.update(zip(_POSITION_COLUMNS, pos_dwa.data, strict=False))
    columns["channels_volts"] = np.stack(volts_dwa.data, axis=1)
    if encoder_dwa is not None:  # files from before the encoder column have none (NaN)
        columns["encoder_counts"] = encoder_dwa.data[0]
    return RawSamples.from_columns(columns)


def _find_detector_group(loader: DataLoader) -> Any:
    for node in loader.h5saver.get_children(loader.raw_group).values():
        if node.attrs.get("TITLE") == DETECTOR_TITLE:
            return node
    raise ValueError(f"{loader.h5saver.h5_file_path}: no '{DETECTOR_TITLE}' group under /RawData")


def _load_channel(loader: DataLoader, group_path: str, dim: str, channel: str) -> Optional[DataWithAxes]:
    try:
        loader.get_node(f"{group_path}/{dim}/{channel}")
    except Exception:  # pymodaq_data raises backend-specific errors for a missing node
        return None
    return loader.load_data(f"{group_path}/{dim}/{channel}/Data00", load_all=True)


def load_results(location: str | Path) -> ScanResults:
    """Read a file written by H5ResultsRepository (or the journal a scan left) back into ScanResults."""
    if _is_journal(location):
        return load_journal(location)
    with DataLoader(Path(location)) as loader:
        group = _find_detector_group(loader)
        attrs = group.attrs.to_dict()
        path = group.path
        map_dwa = _load_channel(loader, path, "Data2D", "CH00")
        counts_dwa = _load_channel(loader, path, "Data2D", "CH01")
        first_raw = 0
        if map_dwa is None:  # a single-line scan: its map is 1D, before the raw stream
            map_dwa = _load_channel(loader, path, "Data1D", "CH00")
            counts_dwa = _load_channel(loader, path, "Data1D", "CH01")
            first_raw = 2
        volts_dwa, pos_dwa, index_dwa = (_load_channel(loader, path, "Data1D", f"CH{first_raw + k:02d}")
                                         for k in range(3))
        map_dim = "Data2D" if map_dwa is not None and map_dwa.dim is DataDim.Data2D else "Data1D"
        baseline_dwa, baseline_counts_dwa = (_load_named(loader, path, map_dim, n) for n in ("baseline",
                                                                                          "baseline_counts"))
        encoder_dwa = _load_named(loader, path, "Data1D", "raw_encoder")
        baseline_raw = _raw_from(*(_load_named(loader, path, "Data1D", f"baseline_raw_{n}")
                                   for n in ("volts", "positions", "index", "encoder")))
    if map_dwa is None or counts_dwa is None:
        raise ValueError(f"{location}: the map is missing")
    config = FlyScanConfig.from_dict(json.loads(attrs["config"]))
    if map_dwa.dim is DataDim.Data2D:
        fast_axis = np.asarray(map_dwa.get_axis_from_index(1)[0].get_data(), dtype=np.float64)
        slow_axis = np.asarray(map_dwa.get_axis_from_index(0)[0].get_data(), dtype=np.float64)
    else:
        fast_axis = np.asarray(map_dwa.get_axis_from_index(0)[0].get_data(), dtype=np.float64)
        slow_axis = np.asarray(config.slow_axis_mm, dtype=np.float64)
    volts = np.stack([np.asarray(a, dtype=np.float64) for a in map_dwa.data])
    volts = volts.reshape(len(CHANNEL_NAMES), slow_axis.size, fast_axis.size)
    counts = np.asarray(counts_dwa.data[0]).reshape(slow_axis.size, fast_axis.size).astype(np.int64)
    grid = GriddedMap(fast_axis, slow_axis, volts, counts)
    raw = _raw_from(volts_dwa, pos_dwa, index_dwa, encoder_dwa)
    baseline = None
    if config.differential and baseline_dwa is not None and baseline_counts_dwa is not None:
        baseline = GriddedMap(
            fast_axis, slow_axis,
            np.stack([np.asarray(a, dtype=np.float64) for a in baseline_dwa.data]).reshape(volts.shape),
            np.asarray(baseline_counts_dwa.data[0]).reshape(counts.shape).astype(np.int64))
    lines = tuple(
        LineSummary(line["index"], line["slow_mm"], line["fast_from_mm"], line["fast_to_mm"], LineState(line["state"]),
                    line["t_start_ns"], line["t_end_ns"], line["samples"], int(line.get("dropped", 0)))
        for line in json.loads(attrs["lines"])
    )
    prov = json.loads(attrs["provenance"])
    provenance = Provenance(json.loads(attrs["plan"]), prov["versions"], prov["started_utc"], prov["finished_utc"],
                            prov["source"])
    return ScanResults(
        scan_id=str(attrs["scan_id"]),
        config=config,
        status=ScanStatus(attrs["status"]),
        raw=raw,
        map=grid,
        lines=lines,
        stats=json.loads(attrs["stats"]),
        provenance=provenance,
        error=attrs["error"] or None,
        baseline=baseline,
        baseline_raw=baseline_raw,
        lag=DetectorLag.from_dict(json.loads(attrs["detector_lag"])) if "detector_lag" in attrs else DetectorLag.none(),
    )


class H5LineJournal:
    """A ScanObserver appending each line's samples to an HDF5 file as the line completes, flushed
    each time: a crash or `kill -9` mid-scan leaves a readable file holding every finished line.

    The file is written in HDF5's single-writer/multiple-reader mode (SWMR): its metadata is always
    consistent on disk, so the journal of a running scan, or of a killed process, opens and reads
    (`load_results`) up to its last flush. Without SWMR, a kill or a concurrent read during an append
    meets half-written metadata.

    Layout: root attributes `scan_id`, `status` ("running" until the scan ends), `partial`, `config`;
    group `/Journal` with one growing dataset per raw column, `channels_volts` (N, 6) and
    `line_entries` (M, 3): line index, samples, partial (1 for an interrupted line), one row per line
    written. `load_results` reads it when the final PyMoDAQ file was never written. A write error is
    kept in `error` and stops the journal, never the scan.
    """

    def __init__(self, path: Path, scan_id: str, config: FlyScanConfig) -> None:
        import h5py  # type: ignore[import-untyped]

        self.path = Path(path)
        self.error: Optional[str] = None
        self._lines_written = 0
        # No HDF5 file lock, as the readers: the journal of a running scan can be read at any time.
        self._file: Any = h5py.File(self.path, "w", libver="latest", locking=False)
        self._file.attrs.update({"scan_id": scan_id, "status": "running", "partial": True,
                                 "config": _json(config.to_dict()), JOURNAL_GROUP: 1})
        group = self._file.create_group(JOURNAL_GROUP)
        for name in _RAW_COLUMNS:
            dtype = np.asarray(getattr(RawSamples.empty(), name)).dtype
            group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))
        group.create_dataset("channels_volts", shape=(0, len(CHANNEL_NAMES)), maxshape=(None, len(CHANNEL_NAMES)),
                             dtype=np.float64, chunks=(4096, len(CHANNEL_NAMES)))
        group.create_dataset(_LINE_ENTRIES, shape=(0, 3), maxshape=(None, 3), dtype=np.int64, chunks=(256, 3))
        # SWMR: from here on no object or attribute is created, only datasets grow.
        self._file.swmr_mode = True
        self._file.flush()

    @property
    def closed(self) -> bool:
        return self._file is None

    def on_event(self, event: FlyScanEvent) -> None:
        if self._file is None:
            return
        try:
            if isinstance(event, FlyScanLineSamples):
                self._append(event)
            elif isinstance(event, (FlyScanCompleted, FlyScanAborted, FlyScanFailed)):
                status = {FlyScanCompleted: "completed", FlyScanAborted: "aborted", FlyScanFailed: "failed"}
                self.close()
                self._mark_ended(status[type(event)], partial=not isinstance(event, FlyScanCompleted))
        except Exception as err:  # a full disk or a vanished folder: keep the scan going, say it later
            self.error = f"{self.path}: the line journal stopped: {err}"
            self.close()

    def _append(self, event: FlyScanLineSamples) -> None:
        samples, group = event.samples, self._file[JOURNAL_GROUP]
        n, start = len(samples), group["seq"].shape[0]
        _check_room(self.path.parent, file_bytes(n))
        for name in _RAW_COLUMNS:
            group[name].resize((start + n,))
            group[name][start:] = getattr(samples, name)
        group["channels_volts"].resize((start + n, len(CHANNEL_NAMES)))
        group["channels_volts"][start:] = samples.channels_volts
        # The line's entry last: a reader trusts only the samples that an entry accounts for.
        entries = group[_LINE_ENTRIES]
        entries.resize((self._lines_written + 1, 3))
        entries[self._lines_written] = (event.line, n, int(bool(event.partial)))
        self._lines_written += 1
        self._file.flush()

    def _mark_ended(self, status: str, partial: bool) -> None:
        """The status is an attribute, which SWMR cannot write: set it once the writer has closed."""
        import h5py

        with h5py.File(self.path, "r+", locking=False) as file:
            file.attrs["status"] = status
            file.attrs["partial"] = partial

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except Exception as err:
                self.error = self.error or f"{self.path}: {type(err).__name__}: {err}"


def _open_for_reading(location: str | Path) -> Any:
    """Opens any of our files for reading, a journal being written (or left by a killed writer)
    included: SWMR reading skips the 'still open for writing' mark such a file carries.
    Without HDF5's file lock, as the writer."""
    import h5py

    return h5py.File(location, "r", locking=False, libver="latest", swmr=True)


def load_journal(location: str | Path) -> ScanResults:
    """Read the line-by-line journal a scan left (its final file never written) into ScanResults:
    the lines whose entry was flushed, and exactly their samples."""
    with _open_for_reading(location) as file:
        attrs = dict(file.attrs)
        group = file[JOURNAL_GROUP]
        entries = group[_LINE_ENTRIES][()]
        # A reader racing the writer may see a column grown further than the entries account for.
        # Journals from before the encoder column have none (read as NaN).
        present = [name for name in _RAW_COLUMNS if name in group]
        on_disk = min(group[name].shape[0] for name in (*present, "channels_volts"))
        ends = np.cumsum(entries[:, 1]) if len(entries) else np.zeros(0, dtype=np.int64)
        whole = int(np.searchsorted(ends, on_disk, side="right"))
        entries = entries[:whole]
        n = int(ends[whole - 1]) if whole else 0
        columns: dict[str, Any] = {name: group[name][:n] for name in present}
        columns["channels_volts"] = group["channels_volts"][:n]
    raw = RawSamples.from_columns(columns)
    config = FlyScanConfig.from_dict(json.loads(attrs["config"]))
    written = {int(index): bool(partial) for index, _, partial in entries}
    status_text = str(attrs["status"])
    interrupted = status_text == "running"  # the process ended before the scan did
    status = ScanStatus.FAILED if interrupted else ScanStatus(status_text)
    lines = []
    for line in FlyScan(config).lines:
        samples = raw.for_line(line.index)
        state = LineState.PENDING if line.index not in written else LineState.FAILED if written[line.index] \
            else LineState.ACQUIRED
        t_start, t_end = (int(samples.t_ns.min()), int(samples.t_ns.max())) if len(samples) else (None, None)
        lines.append(LineSummary(line.index, line.slow_mm, line.fast_from_mm, line.fast_to_mm, state, t_start, t_end,
                                 len(samples)))
    # A journal is read while its scan runs (and to recover a crashed one): its map applies a configured
    # lag only; measuring it is left to `aefi-flyscan regrid`, which reads journals too.
    if config.detector_lag_ms is None:
        lag, fast_mm = DetectorLag.none("a line journal's map: the lag is not measured (aefi-flyscan regrid measures "
                                        "it)"), raw.fast_mm
    else:
        lag, fast_mm = resolve_lag(raw, config.detector_lag_ms)
    grid = grid_samples(fast_mm, raw.slow_mm, raw.channels_volts, config.fast_axis_mm, config.slow_axis_mm)
    error = "the process ended mid-scan; the file holds the lines written before" if interrupted else None
    return ScanResults(str(attrs["scan_id"]), config, status, raw, grid, tuple(lines), {}, Provenance(), error, lag=lag)


def _is_journal(location: str | Path) -> bool:
    with _open_for_reading(location) as file:
        return JOURNAL_GROUP in file and JOURNAL_GROUP in file.attrs
