"""The connections a user can pick for the Arcus controller: serial ports found here plus the simulator."""
from __future__ import annotations

from serial.tools import list_ports

#: The in-process simulated bench (the Arcus and the board of one `sim://NAME` share one ground truth).
SIMULATOR_LINKS = ("sim://bench",)
#: Menu entry meaning "use the URL typed in the URL field" (TCP adapters, USB, a PTY from aefi-arcus-sim).
OTHER_URL = "other URL..."


def serial_link_urls() -> list[str]:
    """`serial://` URLs of the serial ports the system lists (sysfs on Linux: nothing is opened)."""
    return [f"serial://{port.device}" for port in sorted(list_ports.comports(), key=lambda p: p.device)]


def arcus_link_choices() -> list[str]:
    return [*SIMULATOR_LINKS, *serial_link_urls(), OTHER_URL]
