"""The AEFI acquisition board at the measurement level (`_engine.BoardController` underneath).

`AefiBoard` is the idle *holder* of the board link for the `PortArbiter` (the same lease
mechanism as the Arcus port): the 0D viewer holds it to grab averaged measurements; a flyscan
leases it (`board_arbiter(url).lease("flyscan")`), during which measurements raise
`BoardBusyError` naming the borrower, and gets it back on every exit path.

A `sim://NAME` URL names a whole simulated bench (Arcus and board), so the board's arbiter is
keyed with the instrument name "board" to stay apart from the Arcus one.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import numpy as np

from .port_arbiter import PortArbiter

#: Channel order of a measurement (same as `_engine.CHANNEL_NAMES`).
CHANNEL_NAMES: tuple[str, ...] = ("x_in_phase", "x_quadrature", "y_in_phase", "y_quadrature",
                                  "z_in_phase", "z_quadrature")
#: MCU averaging range of `m<n>*`.
N_AVG_MIN, N_AVG_MAX = 1, 255
#: Serial rate of the board.
BOARD_BAUD = 1_500_000
#: Name under which the board's arbiter is kept (a `sim://` URL also serves the Arcus).
BOARD_INSTRUMENT = "board"
#: ADS131A04 digital gains and oversampling ratios the board accepts.
ADC_GAINS = (1, 2, 4, 8, 16)
OSR_VALUES = (4096, 2048, 1024, 800, 768, 512, 400, 384, 256, 200, 192, 128, 96, 64, 48, 32)


class BoardBusyError(RuntimeError):
    """The board link is lent to a flyscan (or another borrower) right now."""


class BoardLink(Protocol):
    """What the adapter uses of `_engine.BoardController`."""

    @property
    def is_lent(self) -> bool: ...
    def measure(self, n_avg: int = 1) -> np.ndarray: ...
    def measure_timed(self, n_avg: int = 1) -> Mapping[str, Any]: ...
    def configure(self, dds_frequency_hz: float = ..., dds_gains: Optional[tuple[int, int, int, int]] = ...,
                  dds_phases: Optional[tuple[int, int, int, int]] = ...,
                  adc_gains: Optional[tuple[int, int, int, int]] = ..., osr: int = ...,
                  iclk_divider: int = ...) -> int: ...
    def close(self) -> None: ...


def check_n_avg(n_avg: int) -> int:
    """`n_avg` as an int, refused with the allowed range before anything is sent."""
    if isinstance(n_avg, bool) or int(n_avg) != n_avg or not N_AVG_MIN <= int(n_avg) <= N_AVG_MAX:
        raise ValueError(f"n_avg = {n_avg!r} is out of range (allowed: {N_AVG_MIN}..{N_AVG_MAX})")
    return int(n_avg)


def board_url(url: str) -> str:
    """A serial board URL gets the board's 1.5 Mbaud unless it names a baud rate."""
    if url.startswith("serial://") and "baud=" not in url:
        return f"{url}{'&' if '?' in url else '?'}baud={BOARD_BAUD}"
    return url


def default_opener(url: str) -> BoardLink:
    from .. import _engine

    return _engine.BoardController(board_url(url))


def board_arbiter(url: str, opener: Optional[Callable[[str], BoardLink]] = None) -> PortArbiter:
    """The process-wide arbiter of the board at `url` (the flyscan leases the board through it)."""
    return PortArbiter.for_url(url, opener or default_opener, instrument=BOARD_INSTRUMENT)


@dataclass(frozen=True)
class BoardSettings:
    """The configuration step of the board (DDS excitation/reference and ADC), in bench units.

    `dds_gains` are AD9106 amplitude words (0..16376) of DDS1..DDS4, `dds_phases_deg` their phases
    in degrees (DDS1/DDS2 are the sources, 180° apart; DDS3/DDS4 the lock-in references, 90° apart).
    """

    dds_frequency_hz: float = 1000.0
    dds_gains: tuple[int, int, int, int] = (10_000, 10_000, 10_000, 10_000)
    dds_phases_deg: tuple[float, float, float, float] = (0.0, 180.0, 90.0, 0.0)
    adc_gains: tuple[int, int, int, int] = (1, 1, 1, 1)
    osr: int = 4096

    def __post_init__(self) -> None:
        if not 0.0 < self.dds_frequency_hz <= 8e6:
            raise ValueError(f"dds_frequency_hz = {self.dds_frequency_hz} is out of range (allowed: 0 < f <= 8e6 Hz)")
        for k, gain in enumerate(self.dds_gains):
            if not 0 <= gain <= 16_376:
                raise ValueError(f"dds_gains[{k}] = {gain} is out of range (allowed: 0..16376)")
        for k, gain in enumerate(self.adc_gains):
            if gain not in ADC_GAINS:
                raise ValueError(f"adc_gains[{k}] = {gain} is out of range (allowed: {ADC_GAINS})")
        if self.osr not in OSR_VALUES:
            raise ValueError(f"osr = {self.osr} is out of range (allowed: {OSR_VALUES})")

    def as_kwargs(self) -> dict[str, Any]:
        phases = tuple(int(round((p % 360.0) / 360.0 * 65536)) % 65536 for p in self.dds_phases_deg)
        return {"dds_frequency_hz": self.dds_frequency_hz, "dds_gains": tuple(self.dds_gains), "dds_phases": phases,
                "adc_gains": tuple(self.adc_gains), "osr": self.osr}


@dataclass
class AefiBoard:
    """One board link, held while idle (see module doc)."""

    url: str
    controller: Optional[BoardLink]
    arbiter: Optional[PortArbiter] = None
    holder_name: str = "DAQ_0DViewer_AEFIBoard"
    settings: Optional[BoardSettings] = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, url: str, opener: Optional[Callable[[str], BoardLink]] = None) -> AefiBoard:
        """Opens the board and registers it as the idle holder of its link."""
        arbiter = board_arbiter(url, opener)
        controller = (opener or default_opener)(url)
        board = cls(url, controller, arbiter)
        try:
            arbiter.attach(board)
        except Exception:
            controller.close()
            raise
        return board

    def close(self) -> None:
        with self._lock:
            if self.arbiter is not None:
                self.arbiter.detach(self)
            if self.controller is not None:
                self.controller.close()
                self.controller = None

    # ---- LinkHolder ------------------------------------------------------------------------------
    def release_link(self) -> BoardLink:
        """Hands the open controller to a borrower; waits for a measurement in flight to finish."""
        with self._lock:
            if self.controller is None:
                raise BoardBusyError(f"board {self.url} is closed")
            controller, self.controller = self.controller, None
            return controller

    def restore_link(self, link: BoardLink) -> None:
        with self._lock:
            self.controller = link
        if self.settings is not None:
            self.configure(self.settings)

    # ---- measurements ----------------------------------------------------------------------------
    def _require(self, action: str) -> BoardLink:
        if self.controller is None:
            borrower = self.arbiter.borrower if self.arbiter is not None else None
            raise BoardBusyError(f"cannot {action}: board {self.url} is lent to {borrower or 'nobody (closed)'}")
        return self.controller

    def measure(self, n_avg: int = 1) -> np.ndarray:
        """The six channel voltages (V, `CHANNEL_NAMES` order), averaged `n_avg` times on the MCU."""
        n_avg = check_n_avg(n_avg)
        with self._lock:
            return np.asarray(self._require("measure").measure(n_avg), dtype=float)

    def measure_timed(self, n_avg: int = 1) -> Mapping[str, Any]:
        """One measurement with its send/receive stamps and estimated sample instant (ns)."""
        n_avg = check_n_avg(n_avg)
        with self._lock:
            return self._require("measure").measure_timed(n_avg)

    def configure(self, settings: BoardSettings) -> int:
        """Writes the DDS/ADC settings; returns the number of register writes."""
        with self._lock:
            writes = self._require("configure").configure(**settings.as_kwargs())
        self.settings = settings
        return writes
