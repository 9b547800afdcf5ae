"""Composition root: the one place that wires adapters into the application service.

`build_flyscan(...)` returns a StudyService running flyscans through the Rust engine on the given
Arcus link (the embedded simulator by default, or real hardware by URL) and saving PyMoDAQ-format
HDF5 files, plus the adapters themselves for callers that need them (abort, statistics).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from .adapters.h5_repository import H5ResultsRepository
from .adapters.rust_scan_adapter import RustScanAdapter
from .application.study_service import StudyService
from .domain.correlation import Placement
from .domain.ports import ResultsRepository, ScanObserver, ScanPort
from .domain.speeds import BenchSpeeds, SpeedProfile

#: The embedded simulated bench (Arcus + virtual probe), replying with the timing of a 9600-baud
#: RS-485 link, the bench's default.
DEFAULT_SIM_URL = "sim://aefi-flyscan?baud=9600&timing=wire"


def is_simulated(url: str) -> bool:
    return url.startswith("sim://")


def bench_speeds() -> BenchSpeeds:
    """The bench's motion profile and mechanical limit from the package configuration
    (~/.pymodaq/config_aefi.toml, [arcus]): the values the move plugin applies."""
    from . import config

    profile = SpeedProfile(*(int(config("arcus", key)) for key in
                             ("high_speed_pps", "low_speed_pps", "accel_ms", "decel_ms")))
    return BenchSpeeds(profile, float(config("arcus", "max_speed_pps")))


def bench_excitation_gains() -> tuple[int, int]:
    """The DDS1/DDS2 gain words of the bench's excitation (configuration, [board] excitation_gains):
    what a differential scan writes back after muting, when the board was not configured in this session."""
    from . import config

    gains = [int(g) for g in config("board", "excitation_gains")]
    if len(gains) != 2 or not all(0 <= g <= 16_376 for g in gains):
        raise ValueError(f"[board] excitation_gains must be two AD9106 gain words in 0..16376, got {gains}")
    return gains[0], gains[1]


@dataclass(frozen=True)
class FlyscanApp:
    service: StudyService
    scan_port: ScanPort
    repository: ResultsRepository
    arcus_url: str
    board_url: Optional[str]

    @property
    def simulated(self) -> bool:
        return is_simulated(self.arcus_url)


def build_flyscan(
    arcus_url: str = DEFAULT_SIM_URL,
    board_url: Optional[str] = None,
    out_dir: Path | str = "aefi-out",
    file_name: Optional[str] = None,
    observers: Iterable[ScanObserver] = (),
    placement: Placement = Placement.ENGINE_MODEL,
    scan_port: Optional[ScanPort] = None,
    repository: Optional[ResultsRepository] = None,
    **adapter_options: Any,
) -> FlyscanApp:
    """Wire a StudyService; `scan_port` / `repository` replace the real adapters (tests, other benches)."""
    port = scan_port or RustScanAdapter(arcus_url, board_url, placement=placement, **adapter_options)
    repo = repository or H5ResultsRepository(out_dir, file_name)
    return FlyscanApp(StudyService(port, repo, observers), port, repo, arcus_url, board_url)
