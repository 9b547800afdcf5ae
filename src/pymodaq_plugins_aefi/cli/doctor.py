"""`aefi-doctor`: the bring-up check of a bench.

It finds what is connected and says whether each link works and how fast:

- serial ports (with the USB-serial latency timer where the OS exposes it, and how to lower it),
- Performax controllers over libusb (`usb://`) and through the vendor's PerformaxCom.dll
  (`performax://`), with the reason and the fix for each one that cannot be opened,
- each Arcus controller: `VER`, `DN`, the baud that answers (serial), the round trip of a `PX`
  poll against the link's wire model,
- each acquisition board: its codes, and its sample rate at n = 1, 10, 127 against the board's
  timing model.

With no argument it checks everything it finds (it writes `m1*` at 1.5 Mbaud, then `@00VER` at each
Arcus baud, to every serial port the OS lists); `--port URL` and `--board URL` check only those
links. `--json FILE` writes the report as JSON too. `--udev-rule` prints the Linux udev rule that
lets a user open the Performax over libusb; `--udev-rule install` installs it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

#: The Arcus baud rates (DB codes 1..5), the factory one first.
ARCUS_BAUDS = (9600, 19200, 38400, 57600, 115200)
#: The acquisition board's serial rate.
BOARD_BAUD = 1_500_000
#: Board averaging counts the doctor measures (the legacy default is 127).
BOARD_N_AVG = (1, 10, 127)
#: PX polls per round-trip measurement.
POLLS = 30
#: A round trip this much above the wire model points at an adapter's latency timer.
LATENCY_EXCESS_MS = 3.0
#: Where the udev rule goes.
UDEV_DIR = Path("/etc/udev/rules.d")
UDEV_RULE = Path(__file__).resolve().parents[1] / "resources" / "70-aefi-performax.rules"

LATENCY_ADVICE_LINUX = ("lower it to 1 ms: echo 1 | sudo tee {path} (until unplugged; a udev rule with "
                        "ATTR{{latency_timer}}=\"1\" makes it permanent)")
LATENCY_ADVICE_WINDOWS = ("lower it to 1 ms: Device Manager > Ports (COM & LPT) > USB Serial Port ({port}) > "
                          "Properties > Port Settings > Advanced > Latency Timer (msec) = 1, then unplug and plug "
                          "in again")


@dataclass
class LatencyTimer:
    """The USB-serial adapter's latency timer of a port, where the OS exposes it."""
    value_ms: Optional[int]
    source: str
    advice: Optional[str] = None


@dataclass
class RoundTrip:
    """Round trips of back-to-back polls against the link's model."""
    command: str
    polls: int
    median_ms: float
    p90_ms: float
    min_ms: float
    model_ms: Optional[float]
    excess_ms: Optional[float]
    polls_per_s: float


@dataclass
class ArcusCheck:
    url: str
    ok: bool
    version: Optional[str] = None
    device_name: Optional[str] = None
    baud: Optional[int] = None
    baud_code: Optional[str] = None
    round_trip: Optional[RoundTrip] = None
    notes: list[str] = field(default_factory=list)
    error: Optional[str] = None


@dataclass
class BoardRate:
    n_avg: int
    samples: int
    measured_hz: float
    model_hz: float
    ratio: float


@dataclass
class BoardCheck:
    url: str
    ok: bool
    codes: Optional[list[int]] = None
    volts: Optional[list[float]] = None
    rates: list[BoardRate] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: Optional[str] = None


@dataclass
class SerialPortCheck:
    port: str
    latency: LatencyTimer
    found: str  # "arcus", "board", "busy", "nothing"
    detail: Optional[str] = None


@dataclass
class Report:
    platform: str
    python: str
    engine: str
    serial_ports: list[SerialPortCheck] = field(default_factory=list)
    usb_devices: list[dict[str, Any]] = field(default_factory=list)
    usb_error: Optional[str] = None
    performax_devices: list[dict[str, Any]] = field(default_factory=list)
    performax_error: Optional[str] = None
    arcus: list[ArcusCheck] = field(default_factory=list)
    boards: list[BoardCheck] = field(default_factory=list)
    #: Whether it searched for devices (no --port/--board) rather than checking given links.
    discovered: bool = False

    @property
    def ok(self) -> bool:
        """Something was checked, and every check passed."""
        checks = [*self.arcus, *self.boards]
        return bool(checks) and all(c.ok for c in checks)


# ---- latency timer --------------------------------------------------------------------------------

def latency_timer(port: str, sysfs_root: Path = Path("/sys")) -> LatencyTimer:
    """The latency timer of a USB-serial port: Linux sysfs, the FTDI driver's registry value on Windows."""
    if sys.platform.startswith("linux"):
        name = Path(os.path.realpath(port)).name
        path = sysfs_root / "bus" / "usb-serial" / "devices" / name / "latency_timer"
        try:
            value = int(path.read_text().strip())
        except (OSError, ValueError):
            return LatencyTimer(None, "not a USB-serial adapter with a latency timer (no sysfs latency_timer)")
        advice = LATENCY_ADVICE_LINUX.format(path=path) if value > 1 else None
        return LatencyTimer(value, str(path), advice)
    if sys.platform == "win32":
        value = _windows_ftdi_latency_ms(port)
        if value is None:
            return LatencyTimer(None, "no FTDI latency timer found for this COM port in the registry",
                                LATENCY_ADVICE_WINDOWS.format(port=port))
        return LatencyTimer(value, "registry (FTDIBUS Device Parameters)",
                            LATENCY_ADVICE_WINDOWS.format(port=port) if value > 1 else None)
    return LatencyTimer(None, f"not read on {sys.platform}")


def _windows_ftdi_latency_ms(port: str) -> Optional[int]:
    # FTDI's driver keeps LatencyTimer next to PortName under Enum\FTDIBUS\<id>\<instance>\Device Parameters.
    if sys.platform == "win32":  # winreg exists there only
        import winreg

        try:
            root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Enum\FTDIBUS")
        except OSError:
            return None
        for i in range(winreg.QueryInfoKey(root)[0]):
            with winreg.OpenKey(root, winreg.EnumKey(root, i)) as dev:
                for j in range(winreg.QueryInfoKey(dev)[0]):
                    try:
                        with winreg.OpenKey(dev, winreg.EnumKey(dev, j) + r"\Device Parameters") as params:
                            if str(winreg.QueryValueEx(params, "PortName")[0]).upper() == port.upper():
                                return int(winreg.QueryValueEx(params, "LatencyTimer")[0])
                    except OSError:
                        continue
    return None


# ---- Arcus ------------------------------------------------------------------------------------------

def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_round_trip(ctrl: Any, command: str = "PX", polls: int = POLLS) -> RoundTrip:
    """`polls` back-to-back stamped exchanges of `command`, against the link's model."""
    samples_ms, reply = [], ""
    t_first = t_last = None
    for _ in range(polls):
        reply, t_send, t_recv = ctrl.query_timed(command)
        samples_ms.append((t_recv - t_send) / 1e6)
        t_first = t_send if t_first is None else t_first
        t_last = t_recv
    model_ns = ctrl.round_trip_model_ns(command, reply)
    model_ms = None if model_ns is None else model_ns / 1e6
    median = statistics.median(samples_ms)
    span_s = max((t_last - t_first) / 1e9, 1e-9)
    return RoundTrip(command, polls, round(median, 4), round(_percentile(samples_ms, 0.9), 4),
                     round(min(samples_ms), 4), None if model_ms is None else round(model_ms, 4),
                     None if model_ms is None else round(median - model_ms, 4), round(polls / span_s, 1))


def _with_query(url: str, key: str, value: Any) -> str:
    return f"{url}{'&' if '?' in url else '?'}{key}={value}"


def _identify(engine: Any, url: str, timeout_s: float, baud: Optional[int]) -> ArcusCheck:
    with engine.ArcusController(url, timeout_s=timeout_s) as ctrl:
        check = ArcusCheck(url=url, ok=True, version=ctrl.query("VER"), device_name=ctrl.query("DN"), baud=baud)
        if url.startswith(("usb://", "performax://")):
            check.round_trip = measure_round_trip(ctrl)
            return check
        check.baud_code = ctrl.query("DB")
        db_baud = _baud_of_code(check.baud_code)
        if baud is None or db_baud is None or db_baud == baud:
            check.round_trip = measure_round_trip(ctrl)
            return check
    # A real line only answers at its own baud: this port does not enforce one (a PTY, a network
    # adapter), so the controller's DB setting is what the wire model must use.
    check.notes.append(f"answered at {baud} baud although DB={check.baud_code} ({db_baud} baud): the port does not "
                       f"enforce the baud (a pseudo-terminal or a network adapter); measured at {db_baud} baud")
    check.url = url.replace(f"baud={baud}", f"baud={db_baud}")
    check.baud = db_baud
    with engine.ArcusController(check.url, timeout_s=timeout_s) as ctrl:
        check.round_trip = measure_round_trip(ctrl)
    return check


def _baud_of_code(code: Optional[str]) -> Optional[int]:
    try:
        return ARCUS_BAUDS[int(code or "") - 1]
    except (ValueError, IndexError):
        return None


def check_arcus(engine: Any, url: str, timeout_s: float = 0.5, latency: Optional[LatencyTimer] = None) -> ArcusCheck:
    """Identify the controller at `url`; a `serial://` URL without `baud=` is tried at every Arcus baud."""
    bauds: Sequence[Optional[int]] = (None,)
    if url.startswith("serial://") and "baud=" not in url:
        bauds = ARCUS_BAUDS
    last_error = "no reply"
    for baud in bauds:
        tried = url if baud is None else _with_query(url, "baud", baud)
        try:
            check = _identify(engine, tried, timeout_s, baud)
        except engine.PortBusyError as e:
            return ArcusCheck(url=url, ok=False, error=f"busy: {e}")
        except (engine.PortNotFoundError, engine.UsbUnavailableError, ValueError) as e:
            return ArcusCheck(url=url, ok=False, error=str(e))
        except engine.AefiError as e:
            last_error = str(e)
            continue
        _explain(check, latency)
        return check
    tried_bauds = "" if bauds == (None,) else f" at {', '.join(map(str, bauds))} baud"
    return ArcusCheck(url=url, ok=False, error=f"no Arcus answered{tried_bauds}: {last_error}")


def _explain(check: ArcusCheck, latency: Optional[LatencyTimer]) -> None:
    rt = check.round_trip
    if rt is None:
        return
    if rt.model_ms is None:
        check.notes.append(f"PX round trip {rt.median_ms:.2f} ms ({rt.polls_per_s:.0f} polls/s); "
                           "no wire model (baud unknown)")
        return
    check.notes.append(f"PX round trip {rt.median_ms:.2f} ms median (model {rt.model_ms:.2f} ms, "
                       f"+{rt.excess_ms:.2f} ms), {rt.polls_per_s:.0f} polls/s")
    if rt.excess_ms is not None and rt.excess_ms > LATENCY_EXCESS_MS:
        if latency is not None and latency.value_ms is not None and latency.value_ms > 1:
            check.notes.append(f"the adapter's latency timer is {latency.value_ms} ms: {latency.advice}")
        elif check.baud and check.baud < ARCUS_BAUDS[-1]:
            check.notes.append(f"{check.baud} baud: DB=5, STORE and a power cycle give 115200 baud, "
                               "the fastest polls the controller allows")


# ---- board ------------------------------------------------------------------------------------------

def check_board(engine: Any, url: str, timeout_s: float = 1.0, seconds_per_rate: float = 0.4) -> BoardCheck:
    """The board's codes, and its sample rate at each n of BOARD_N_AVG against the timing model."""
    try:
        with engine.BoardController(url, timeout_s=timeout_s) as board:
            check = BoardCheck(url=url, ok=True, codes=[int(c) for c in board.read_codes(1)])
            check.volts = [float(v) for v in board.measure(1)]
            for n in BOARD_N_AVG:
                check.rates.append(_board_rate(engine, board, n, seconds_per_rate))
    except engine.AefiError as e:
        return BoardCheck(url=url, ok=False, error=str(e))
    except ValueError as e:
        return BoardCheck(url=url, ok=False, error=str(e))
    for r in check.rates:
        check.notes.append(f"n={r.n_avg}: {r.measured_hz:.1f} Hz (model {r.model_hz:.1f} Hz, {r.ratio:.0%})")
    slow = [r for r in check.rates if r.ratio < 0.8]
    if slow:
        check.notes.append("slower than the model: a USB-serial adapter's latency timer (lower it to 1 ms) "
                           "or a loaded host")
    return check


def _board_rate(engine: Any, board: Any, n_avg: int, seconds: float) -> BoardRate:
    count = 0
    t0 = t_end = engine.now_ns()
    deadline = t0 + int(seconds * 1e9)
    while count < 3 or t_end < deadline:
        board.measure_timed(n_avg)
        count += 1
        t_end = engine.now_ns()
    measured = count / ((t_end - t0) / 1e9)
    model = 1e9 / engine.board_round_trip_model_ns(n_avg)
    return BoardRate(n_avg, count, round(measured, 2), round(model, 2), round(measured / model, 3))


# ---- discovery --------------------------------------------------------------------------------------

def find_serial_ports(engine: Any) -> list[str]:
    """Serial ports the OS lists (pyserial's list, which also names COM ports on Windows)."""
    try:
        from serial.tools import list_ports

        ports = [p.device for p in list_ports.comports()]
    except ImportError:
        ports = []
    return sorted(set(ports) | set(engine.serial_ports()))


def probe_serial_port(engine: Any, port: str, report: Report) -> None:
    """The board first, then the Arcus: the Arcus drops whatever precedes the '@' of a frame, while the
    board's parser would keep the Arcus probe's bytes until its next '*' and refuse the command."""
    latency = latency_timer(port)
    board = check_board(engine, f"serial://{port}", timeout_s=0.5)
    if board.ok:
        report.boards.append(board)
        report.serial_ports.append(SerialPortCheck(port, latency, "board", f"{BOARD_BAUD} baud"))
        return
    if board.error and "busy" in board.error:
        report.serial_ports.append(SerialPortCheck(port, latency, "busy", board.error))
        return
    arcus = check_arcus(engine, f"serial://{port}", timeout_s=0.3, latency=latency)
    if arcus.ok:
        report.arcus.append(arcus)
        report.serial_ports.append(SerialPortCheck(port, latency, "arcus", f"{arcus.device_name} at {arcus.baud} baud"))
        return
    report.serial_ports.append(SerialPortCheck(port, latency, "nothing", "neither the board nor an Arcus answered"))


def discover(engine: Any, report: Report, dll: Optional[str],
             ports: Callable[[Any], list[str]] = find_serial_ports) -> None:
    for port in ports(engine):
        probe_serial_port(engine, port, report)
    try:
        report.usb_devices = engine.usb_devices()
    except engine.AefiError as e:
        report.usb_error = str(e)
    for dev in report.usb_devices:
        if dev["problem"] is None:
            report.arcus.append(check_arcus(engine, dev["url"]))
    try:
        report.performax_devices = engine.performax_devices(dll)
    except engine.AefiError as e:
        report.performax_error = str(e)
    for dev in report.performax_devices:
        url = dev["url"] if dll is None else _with_query(dev["url"], "dll", dll)
        report.arcus.append(check_arcus(engine, url))


# ---- udev rule --------------------------------------------------------------------------------------

def udev_rule(action: str, udev_dir: Path) -> int:
    text = UDEV_RULE.read_text()
    if action == "print":
        print(text, end="")
        print(f"# install: aefi-doctor --udev-rule install  (copies it to {udev_dir / UDEV_RULE.name}, "
              "reloads udev)")
        return 0
    target = udev_dir / UDEV_RULE.name
    try:
        udev_dir.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    except OSError as e:
        print(f"cannot write {target}: {e} (run as root: sudo aefi-doctor --udev-rule install)", file=sys.stderr)
        return 1
    print(f"installed {target}")
    udevadm = shutil.which("udevadm")
    if udevadm and udev_dir == UDEV_DIR:
        for args in (["control", "--reload-rules"], ["trigger", "--subsystem-match=usb"]):
            subprocess.run([udevadm, *args], check=False)
        print("udev reloaded: plug the controller in again")
    return 0


# ---- report -----------------------------------------------------------------------------------------

def _print_usb(report: Report, w: Callable[..., None]) -> None:
    w("\nPerformax over libusb (usb://):")
    if report.usb_error:
        w(f"  unavailable: {report.usb_error}")
    elif not report.usb_devices:
        w("  none found")
    for d in report.usb_devices:
        w(f"  {d['url']}: " + ("opens" if d["problem"] is None else d["problem"]))
    w("\nPerformax through PerformaxCom.dll (performax://):")
    if report.performax_error:
        w(f"  unavailable: {report.performax_error}")
    elif not report.performax_devices:
        w("  none found")
    for d in report.performax_devices:
        w(f"  {d['url']} (index {d['index']}, {d['description']})")


def print_report(report: Report, out: Any = None) -> None:
    out = out or sys.stdout
    w = lambda s="": print(s, file=out)  # noqa: E731
    w(f"aefi-doctor on {report.platform}, Python {report.python}, engine {report.engine}")
    if report.serial_ports:
        w("\nSerial ports:")
        for p in report.serial_ports:
            lat = "" if p.latency.value_ms is None else f", latency timer {p.latency.value_ms} ms"
            w(f"  {p.port}: {p.found}{' (' + p.detail + ')' if p.detail else ''}{lat}")
            if p.latency.advice and p.latency.value_ms is not None:
                w(f"    {p.latency.advice}")
    if report.discovered:
        _print_usb(report, w)
    for c in report.arcus:
        w(f"\nArcus {c.url}: " + (f"{c.device_name}, firmware {c.version}" if c.ok else f"FAILED: {c.error}"))
        if c.ok and c.baud:
            w(f"  answers at {c.baud} baud (DB={c.baud_code})")
        for n in c.notes:
            w(f"  {n}")
    for b in report.boards:
        w(f"\nBoard {b.url}: " + ("answers" if b.ok else f"FAILED: {b.error}"))
        if b.codes is not None:
            w(f"  codes (n=1): {b.codes}")
        for n in b.notes:
            w(f"  {n}")
    if not report.arcus and not report.boards:
        w("\nNo Arcus controller or board answered.")
    w(f"\n{'OK' if report.ok else 'PROBLEMS FOUND'}")


def to_json(report: Report) -> dict[str, Any]:
    d = asdict(report)
    d["ok"] = report.ok
    return d


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aefi-doctor", description=__doc__.split("\n\n")[0],
                                epilog="With no --port/--board it checks every serial port, libusb Performax and "
                                       "PerformaxCom.dll device it finds.")
    p.add_argument("--port", action="append", default=[], metavar="URL",
                   help="check this Arcus link only (serial://, tcp://, usb://, performax://, sim://); repeatable")
    p.add_argument("--board", action="append", default=[], metavar="URL",
                   help="check this acquisition board link only (serial://PATH at 1.5 Mbaud, sim://); repeatable")
    p.add_argument("--dll", metavar="PATH",
                   help="PerformaxCom.dll, or its folder (default: AEFI_PERFORMAX_DLL_DIR, then the OS search)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.add_argument("--udev-rule", nargs="?", const="print", choices=("print", "install"),
                   help="print (or install) the Linux udev rule for usb:// access, then exit")
    p.add_argument("--udev-dir", default=str(UDEV_DIR), help=argparse.SUPPRESS)
    return p


def main(argv: Optional[Sequence[str]] = None, ports: Callable[[Any], list[str]] = find_serial_ports) -> int:
    args = build_parser().parse_args(argv)
    if args.udev_rule:
        return udev_rule(args.udev_rule, Path(args.udev_dir))
    from .. import _engine as engine

    report = Report(platform=f"{platform.system()} {platform.release()} ({platform.machine()})",
                    python=platform.python_version(), engine=engine.__version__)
    if args.port or args.board:
        for url in args.port:
            latency = latency_timer(url[len("serial://"):].split("?")[0]) if url.startswith("serial://") else None
            report.arcus.append(check_arcus(engine, url, latency=latency))
        for url in args.board:
            report.boards.append(check_board(engine, url))
    else:
        report.discovered = True
        discover(engine, report, args.dll, ports)
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(report), indent=2))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
