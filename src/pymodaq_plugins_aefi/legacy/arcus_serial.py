"""A pyserial client of the Arcus PMX-4EX, written the way the AEFI Python code talks to it.

RS-485 ASCII framing (`@NN<command>\\r` out, `<reply>\\r` back, no echo, notes/arcus-protocol.md
§1): one blocking query at a time for set-up commands, and a split send/receive pair for the
flyscan loop, which must keep its trigger schedule while a position query is on the wire.
"""
from __future__ import annotations

import os
import select
import time
from dataclasses import dataclass
from typing import Optional

import serial

#: MST fields: status X, Y, Z, U, then the buffer fields (notes/arcus-protocol.md §5).
_MST_AXES = ("X", "Y", "Z", "U")
#: Status bits 0-2: accelerating, decelerating, constant speed. Any of them set = pulsing.
_MOVING_MASK = 0x7


class LegacyArcusError(RuntimeError):
    """The controller answered `?...`, or no reply came in time."""


@dataclass(frozen=True)
class PollSample:
    """One position reply: stamps (CLOCK_MONOTONIC ns) at send and at receive, position in steps."""

    t_send_ns: int
    t_recv_ns: int
    position_steps: int


class LegacyArcus:
    """One Arcus controller on a serial port (pyserial, opened exclusively)."""

    def __init__(self, port: str, baud: int, device: str = "00", timeout_s: float = 1.0) -> None:
        if len(device) != 2 or not device.isdigit():
            raise ValueError(f"device must be two digits 00..99, got {device!r}")
        self.device = device
        self.baud = baud
        self._serial = serial.Serial(port, baudrate=baud, timeout=timeout_s, exclusive=True)
        self._fd = self._serial.fileno()
        self._pending = bytearray()
        self._in_flight: Optional[tuple[str, int]] = None

    def close(self) -> None:
        self._serial.close()

    def __enter__(self) -> LegacyArcus:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- blocking queries (set-up, step scan) ----------------------------------------------
    def frame(self, command: str) -> bytes:
        return f"@{self.device}{command}\r".encode("ascii")

    def query(self, command: str) -> str:
        """Send one command and wait for its reply (the pylablib/AEFI driver's way)."""
        if self._in_flight is not None:
            raise LegacyArcusError(f"query {command!r} while {self._in_flight[0]!r} is on the wire")
        self._serial.write(self.frame(command))
        reply = self._serial.read_until(b"\r")
        if not reply.endswith(b"\r"):
            raise LegacyArcusError(f"no reply to {command!r} within {self._serial.timeout} s")
        text = reply[:-1].decode("ascii")
        if text.startswith("?"):
            raise LegacyArcusError(f"controller refused {command!r}: {text}")
        return text

    def position_steps(self, axis: str) -> int:
        return int(self.query(f"P{axis}"))

    def set_high_speed(self, axis: str, speed_pps: int) -> None:
        self._expect_ok(f"HS{axis}={int(speed_pps)}")

    def set_speeds(self, axis: str, high_pps: int, low_pps: int, accel_ms: int, decel_ms: int) -> None:
        for name, value in (("HS", high_pps), ("LS", low_pps), ("ACC", accel_ms), ("DEC", decel_ms)):
            self._expect_ok(f"{name}{axis}={int(value)}")

    def move_abs(self, axis: str, target_steps: int) -> None:
        self._expect_ok(f"{axis}{int(target_steps)}")

    def stop(self, axis: str) -> None:
        self._expect_ok(f"STOP{axis}")

    def is_moving(self, axis: str) -> bool:
        fields = self.query("MST").split(":")
        return int(fields[_MST_AXES.index(axis)]) & _MOVING_MASK != 0

    def wait_idle(self, axis: str, poll_s: float = 0.1, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.is_moving(axis):
            if time.monotonic() > deadline:
                raise LegacyArcusError(f"axis {axis} still moving after {timeout_s} s")
            time.sleep(poll_s)

    def _expect_ok(self, command: str) -> None:
        reply = self.query(command)
        if reply != "OK":
            raise LegacyArcusError(f"{command!r} answered {reply!r}, expected OK")

    # ---- split query for the flyscan loop ----------------------------------------------------
    @property
    def in_flight(self) -> bool:
        return self._in_flight is not None

    def send_query(self, command: str) -> None:
        """Put a query on the wire and return at once; `poll_reply` collects the answer."""
        if self._in_flight is not None:
            raise LegacyArcusError(f"query {command!r} while {self._in_flight[0]!r} is on the wire")
        t_send_ns = time.monotonic_ns()
        os.write(self._fd, self.frame(command))
        self._in_flight = (command, t_send_ns)

    def wait_readable(self, timeout_s: float) -> bool:
        """Sleep until reply bytes arrive or `timeout_s` passes (the GIL is released meanwhile)."""
        readable, _, _ = select.select([self._fd], [], [], max(timeout_s, 0.0))
        return bool(readable)

    def poll_reply(self) -> Optional[PollSample]:
        """Read what has arrived; a `PollSample` once the whole reply of the query is in."""
        if self._in_flight is None:
            return None
        try:
            self._pending += os.read(self._fd, 256)
        except BlockingIOError:
            return None
        end = self._pending.find(b"\r")
        if end < 0:
            return None
        t_recv_ns = time.monotonic_ns()
        text = self._pending[:end].decode("ascii")
        del self._pending[: end + 1]
        command, t_send_ns = self._in_flight
        self._in_flight = None
        if text.startswith("?"):
            raise LegacyArcusError(f"controller refused {command!r}: {text}")
        return PollSample(t_send_ns, t_recv_ns, int(text))
