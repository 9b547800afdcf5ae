"""AefiBoard: the AEFI acquisition board as an ophyd-async readable, triggerable detector.

`trigger()` takes one measurement through the board adapter (`adapters.aefi_board.AefiBoard`,
the link's idle holder: a flyscan leases the board from it); `read()` gives the six lock-in
channels in volts and the same six as field in V/m with the bench calibration. Usable in
`bp.count` and in step scans.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
from ophyd_async.core import (
    AsyncStatus,
    SignalR,
    StandardReadable,
    StandardReadableFormat,
    soft_signal_r_and_setter,
    soft_signal_rw,
)

from ..adapters.aefi_board import N_AVG_MAX, N_AVG_MIN
from ..adapters.aefi_board import AefiBoard as BoardAdapter
from ..domain.measurement import CHANNEL_NAMES

#: The bench's sensor calibration: V/m of field per volt at the lock-in output (the engine's
#: `board::convert::V_PER_M_PER_VOLT`, the legacy `aefi_device_config.json`).
V_PER_M_PER_VOLT = 63_600.0


class AefiBoard(StandardReadable):
    """Six channels per trigger: `<name>-<channel>` in V and `<name>-<channel>_field` in V/m.

    `n_avg` (MCU averaging, 1..255) and `v_per_m_per_volt` (the calibration; no sensor rotation:
    the field is in the sensor's frame) are configuration signals.
    """

    def __init__(self, board: BoardAdapter, name: str = "", v_per_m_per_volt: float = V_PER_M_PER_VOLT) -> None:
        self._board = board
        self._volts_setters: list[Callable[[float], None]] = []
        self._field_setters: list[Callable[[float], None]] = []
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            for channel in CHANNEL_NAMES:
                signal, setter = soft_signal_r_and_setter(float, float("nan"), units="V", precision=6)
                setattr(self, channel, signal)
                self._volts_setters.append(setter)
        with self.add_children_as_readables():
            for channel in CHANNEL_NAMES:
                signal, setter = soft_signal_r_and_setter(float, float("nan"), units="V/m", precision=3)
                setattr(self, f"{channel}_field", signal)
                self._field_setters.append(setter)
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.n_avg = soft_signal_rw(int, 1)
            self.v_per_m_per_volt = soft_signal_rw(float, float(v_per_m_per_volt), units="(V/m)/V")
        super().__init__(name=name)

    @classmethod
    def open(cls, url: str, name: str = "board") -> AefiBoard:
        """Open the board at `url` (a `sim://NAME` bench's board, or serial://…) and hold its link."""
        return cls(BoardAdapter.open(url), name=name)

    @property
    def adapter(self) -> BoardAdapter:
        return self._board

    def channel(self, name: str, field: bool = False) -> SignalR[float]:
        """The signal of one channel (V, or V/m with `field`)."""
        if name not in CHANNEL_NAMES:
            raise KeyError(f"unknown channel {name!r}; channels are {CHANNEL_NAMES}")
        return getattr(self, f"{name}_field" if field else name)

    @AsyncStatus.wrap
    async def trigger(self) -> None:
        n_avg = await self.n_avg.get_value()
        if not N_AVG_MIN <= n_avg <= N_AVG_MAX:
            raise ValueError(f"{self.name}: n_avg = {n_avg} is out of range (allowed: {N_AVG_MIN}..{N_AVG_MAX})")
        volts = np.asarray(await asyncio.to_thread(self._board.measure, n_avg), dtype=np.float64)
        scale = await self.v_per_m_per_volt.get_value()
        for k, value in enumerate(volts):
            self._volts_setters[k](float(value))
            self._field_setters[k](float(value) * scale)

    def close(self) -> None:
        """Give the board link back (closes it)."""
        self._board.close()
