"""ScanResults ↔ PyMoDAQ-format HDF5, written and read with pymodaq_data's own savers.

Layout (what H5Browser shows), under `/RawData/Detector000` titled "AEFI flyscan":

    Data2D/CH00 "map"          six channels (V), axes: slow axis (index 0) and fast axis (index 1) in mm
    Data2D/CH01 "counts"       samples averaged in each map cell
    Data1D/CH00 "raw_volts"    the raw stream's six channels (V) against time since the first sample (s)
    Data1D/CH01 "raw_positions" fast_mm, slow_mm, pos_err_mm of every sample
    Data1D/CH02 "raw_index"    seq, t_ns (monotonic ns), line, flags of every sample, exact integer types

The detector group carries the scan's identity and status (`scan_id`, `status` completed / aborted /
failed, `partial`, `error`) and JSON attributes: `config`, `plan`, `stats`, `provenance`, `lines`.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
from pymodaq_data.data import Axis, DataDim, DataSource, DataToExport, DataWithAxes
from pymodaq_data.h5modules.data_saving import DataLoader, DataToExportSaver
from pymodaq_data.h5modules.saving import H5SaverLowLevel

from ..domain.config import FlyScanConfig
from ..domain.fly_scan import LineState, ScanStatus
from ..domain.gridding import GriddedMap
from ..domain.measurement import CHANNEL_NAMES
from ..domain.ports import ResultsRepository
from ..domain.results import LineSummary, Provenance, ScanResults
from ..domain.samples import RawSamples

DETECTOR_TITLE = "AEFI flyscan"
_INDEX_COLUMNS = ("seq", "t_ns", "line", "flags")
_POSITION_COLUMNS = ("fast_mm", "slow_mm", "pos_err_mm")


def _json(value: Any) -> str:
    def plain(obj: Any) -> Any:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(f"{type(obj).__name__} is not JSON serialisable")

    return json.dumps(value, default=plain)


class H5ResultsRepository(ResultsRepository):
    """Saves each scan to `<directory>/<file_name>` (default `<scan_id>.h5`)."""

    def __init__(self, directory: Path | str, file_name: Optional[str] = None) -> None:
        self.directory = Path(directory)
        self.file_name = file_name

    def path_for(self, results: ScanResults) -> Path:
        return self.directory / (self.file_name or f"{results.scan_id}.h5")

    def save(self, results: ScanResults) -> str:
        path = self.path_for(results)
        path.parent.mkdir(parents=True, exist_ok=True)
        h5 = H5SaverLowLevel.from_file(path, save_type="custom", new_file=True, metadata=self._root_metadata(results))
        try:
            group = h5.add_det_group(h5.raw_group, title=DETECTOR_TITLE, metadata=self._group_metadata(results))
            DataToExportSaver(h5).add_data(group, self._to_dte(results))
        finally:
            h5.close_file()
        return str(path)

    def load(self, location: str) -> ScanResults:
        return load_results(location)

    @staticmethod
    def _root_metadata(results: ScanResults) -> dict[str, Any]:
        return {"scan_id": results.scan_id, "status": results.status.value, "partial": bool(results.partial)}

    @staticmethod
    def _group_metadata(results: ScanResults) -> dict[str, Any]:
        provenance = results.provenance
        return {
            "scan_id": results.scan_id,
            "status": results.status.value,
            "partial": bool(results.partial),
            "error": results.error or "",
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
                 "t_end_ns": line.t_end_ns, "samples": line.samples}
                for line in results.lines
            ]),
        }

    @staticmethod
    def _to_dte(results: ScanResults) -> DataToExport:
        config, grid = results.config, results.map
        map_axes = [
            Axis(f"{config.slow_axis} (slow)", units="mm", data=grid.slow_axis_mm.copy(), index=0),
            Axis(f"{config.fast_axis} (fast)", units="mm", data=grid.fast_axis_mm.copy(), index=1),
        ]
        data = [
            DataWithAxes("map", source=DataSource.raw, dim=DataDim.Data2D, units="V", labels=list(CHANNEL_NAMES),
                         data=[grid.volts[c].copy() for c in range(len(CHANNEL_NAMES))], axes=map_axes),
            DataWithAxes("counts", source=DataSource.raw, dim=DataDim.Data2D, labels=["samples per cell"],
                         data=[grid.counts.astype(np.float64)], axes=[a.copy() for a in map_axes]),
        ]
        raw = results.raw
        if len(raw) >= 2:  # PyMoDAQ squeezes a one-point signal to 0D; a line has far more samples
            time_axis = [Axis("time", units="s", data=(raw.t_ns - raw.t_ns[0]) * 1e-9, index=0)]
            data += [
                DataWithAxes("raw_volts", source=DataSource.raw, dim=DataDim.Data1D, units="V",
                             labels=list(CHANNEL_NAMES),
                             data=[raw.channels_volts[:, c].copy() for c in range(len(CHANNEL_NAMES))], axes=time_axis),
                DataWithAxes("raw_positions", source=DataSource.raw, dim=DataDim.Data1D, units="mm",
                             labels=list(_POSITION_COLUMNS), data=[getattr(raw, n).copy() for n in _POSITION_COLUMNS],
                             axes=[a.copy() for a in time_axis]),
                DataWithAxes("raw_index", source=DataSource.raw, dim=DataDim.Data1D, labels=list(_INDEX_COLUMNS),
                             data=[getattr(raw, n).copy() for n in _INDEX_COLUMNS], axes=[a.copy() for a in time_axis]),
            ]
        return DataToExport("AEFI flyscan", data=data)


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
    """Read a file written by H5ResultsRepository back into ScanResults."""
    with DataLoader(Path(location)) as loader:
        group = _find_detector_group(loader)
        attrs = group.attrs.to_dict()
        path = group.path
        map_dwa = _load_channel(loader, path, "Data2D", "CH00")
        counts_dwa = _load_channel(loader, path, "Data2D", "CH01")
        volts_dwa = _load_channel(loader, path, "Data1D", "CH00")
        pos_dwa = _load_channel(loader, path, "Data1D", "CH01")
        index_dwa = _load_channel(loader, path, "Data1D", "CH02")
    if map_dwa is None or counts_dwa is None:
        raise ValueError(f"{location}: the map is missing")
    config = FlyScanConfig.from_dict(json.loads(attrs["config"]))
    fast_axis = np.asarray(map_dwa.get_axis_from_index(1)[0].get_data(), dtype=np.float64)
    slow_axis = np.asarray(map_dwa.get_axis_from_index(0)[0].get_data(), dtype=np.float64)
    volts = np.stack([np.asarray(a, dtype=np.float64) for a in map_dwa.data])
    volts = volts.reshape(len(CHANNEL_NAMES), slow_axis.size, fast_axis.size)
    counts = np.asarray(counts_dwa.data[0]).reshape(slow_axis.size, fast_axis.size).astype(np.int64)
    grid = GriddedMap(fast_axis, slow_axis, volts, counts)
    if volts_dwa is None or pos_dwa is None or index_dwa is None:
        raw = RawSamples.empty()
    else:
        columns = dict(zip(_INDEX_COLUMNS, index_dwa.data, strict=False))
        columns.update(zip(_POSITION_COLUMNS, pos_dwa.data, strict=False))
        columns["channels_volts"] = np.stack(volts_dwa.data, axis=1)
        raw = RawSamples.from_columns(columns)
    lines = tuple(
        LineSummary(line["index"], line["slow_mm"], line["fast_from_mm"], line["fast_to_mm"], LineState(line["state"]),
                    line["t_start_ns"], line["t_end_ns"], line["samples"])
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
    )
