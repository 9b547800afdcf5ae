"""Plans for the AEFI bench: a whole flyscan as one Bluesky run, and its figures from the documents."""
from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, Optional

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import Msg

from ..domain.config import FlyScanConfig
from ..domain.measurement import CHANNEL_NAMES
from ._flyer import AefiFlyer


def fly_raster(flyer: AefiFlyer, config: FlyScanConfig, md: Optional[Mapping[str, Any]] = None,
               ) -> Generator[Msg, Any, None]:
    """One run: prepare, kickoff, complete (progress on its status), collect — the data collected
    as the scan flies is emitted at the end; an abort, a stop or a failure still collects what was
    acquired (a partial map) before the run closes, and the motors are stopped first."""
    metadata = {"plan_name": "fly_raster", "detectors": [flyer.name], "aefi_config": _config_md(config),
                "shape": [config.lines, config.points_per_line]}
    metadata.update(md or {})

    def body() -> Generator[Msg, Any, None]:
        yield from bps.prepare(flyer, config, wait=True)
        yield from bps.kickoff(flyer, wait=True)
        yield from bps.complete(flyer, wait=True)

    def last_collect() -> Generator[Msg, Any, None]:
        if flyer.results is None and flyer.prepared:
            yield from bps.wait_for([flyer.stop_and_keep])
        if flyer.prepared:
            yield from bps.collect(flyer)

    @bpp.stage_decorator([flyer])
    @bpp.run_decorator(md=metadata)
    def run() -> Generator[Msg, Any, None]:
        return (yield from bpp.finalize_wrapper(body(), last_collect()))

    return (yield from run())


def _config_md(config: FlyScanConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return {key: value for key, value in asdict(config).items() if isinstance(value, (int, float, str))}


def map_from_documents(documents: Sequence[tuple[str, Mapping[str, Any]]], stream: str = "aefi_map",
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fast_axis_mm, slow_axis_mm, volts (6, n_slow, n_fast)) rebuilt from a run's event pages."""
    descriptors = {doc["uid"] for name, doc in documents if name == "descriptor" and doc["name"] == stream}
    if not descriptors:
        raise KeyError(f"no descriptor of stream {stream!r} among the documents")
    prefix = stream[: -len("_map")]
    rows: dict[float, np.ndarray] = {}
    fast_mm: Optional[np.ndarray] = None
    for name, doc in documents:
        if name != "event_page" or doc["descriptor"] not in descriptors:
            continue
        data = doc["data"]
        for i, slow in enumerate(data[f"{prefix}_map_slow_mm"]):
            fast_mm = np.asarray(data[f"{prefix}_map_fast_mm"][i], dtype=np.float64)
            rows[float(slow)] = np.array([data[f"{prefix}_map_{c}"][i] for c in CHANNEL_NAMES], dtype=np.float64)
    if fast_mm is None:
        raise ValueError(f"stream {stream!r} has no rows")
    slow_mm = np.array(sorted(rows))
    volts = np.stack([rows[s] for s in slow_mm], axis=1)
    return fast_mm, slow_mm, volts


def raw_from_documents(documents: Sequence[tuple[str, Mapping[str, Any]]], stream: str = "aefi_raw",
                       ) -> dict[str, np.ndarray]:
    """The raw stream's columns (keys without the flyer's prefix) concatenated from a run's event pages."""
    descriptors = {doc["uid"] for name, doc in documents if name == "descriptor" and doc["name"] == stream}
    prefix = stream[: -len("raw")]
    columns: dict[str, list[Any]] = {}
    for name, doc in documents:
        if name == "event_page" and doc["descriptor"] in descriptors:
            for key, values in doc["data"].items():
                columns.setdefault(key[len(prefix):], []).extend(values)
    return {key: np.asarray(values) for key, values in columns.items()}
