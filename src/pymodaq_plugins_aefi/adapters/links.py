"""The connections a user can pick for the Arcus controller: serial ports found here plus the simulator."""
from __future__ import annotations

from serial.tools import list_ports

#: The in-process simulated bench (the Arcus and the board of one `sim://NAME` share one ground truth).
SIMULATOR_LINKS = ("sim://bench",)
#: The simulated bench's Arcus with a home switch at 0 on every axis, as on the bench (the first
#: opener of a `sim://NAME` sets its options: open the stage before the board).
ARCUS_SIMULATOR_LINK = "sim://bench?home=X=0&home=Y=0&home=Z=0&home=U=0"
#: Menu entry meaning "use the URL typed in the URL field" (TCP adapters, USB, a PTY from aefi-arcus-sim).
OTHER_URL = "other URL..."


def serial_link_urls() -> list[str]:
    """`serial://` URLs of the serial ports the system lists (sysfs on Linux: nothing is opened)."""
    return [f"serial://{port.device}" for port in sorted(list_ports.comports(), key=lambda p: p.device)]


def arcus_link_choices(current: str = ARCUS_SIMULATOR_LINK) -> list[str]:
    """The simulator, the serial ports found here, and `current` (a configured URL) if it is none of these."""
    choices = [ARCUS_SIMULATOR_LINK, *serial_link_urls()]
    return [*choices, *([current] if current not in choices else []), OTHER_URL]
