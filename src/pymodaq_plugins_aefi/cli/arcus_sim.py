"""aefi-arcus-sim: a simulated Arcus Performax PMX-4EX-SA on a pseudo-terminal or on TCP.

The first line printed on stdout is where to connect: the PTY path (open it as a serial port,
8N1, any baud: a PTY has none) or tcp://HOST:PORT. Frames are RS-485 style, '@' + device number
(default 00) + command + CR; replies end with CR. Motion is computed exactly against the
monotonic clock (trapezoids in pulses), and replies are delayed as the real wire would at the
chosen baud unless --no-delay. Stops on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import re
import signal
import sys
import textwrap
from collections.abc import Sequence
from typing import Optional

_AXIS_VALUE = re.compile(r"^[XYZUxyzu]=.+$")


def _choices_epilog() -> str:
    from pymodaq_plugins_aefi import _engine

    lines = ["simulator choices where the real controller's behaviour is unverified (what this simulator does):"]
    for topic, choice in _engine.ARCUS_SIM_CHOICES:
        lines += textwrap.wrap(f"{topic}: {choice}", width=100, initial_indent="  - ", subsequent_indent="    ")
    lines += ["", "fault injection flags apply to replies in order of arrival; --stall and --limit-hit act on motion."]
    return "\n".join(lines)


def _axis_value(flag: str):
    def parse(text: str) -> str:
        if not _AXIS_VALUE.match(text):
            raise argparse.ArgumentTypeError(f"{flag} expects AXIS=VALUE with AXIS one of X, Y, Z, U (got {text!r})")
        return text[0].upper() + text[1:]
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aefi-arcus-sim", description=__doc__, epilog=_choices_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--pty", action="store_true", help="serve on a new pseudo-terminal (prints its path)")
    where.add_argument("--tcp", metavar="HOST:PORT", help="serve on TCP, e.g. 127.0.0.1:0 (prints tcp://HOST:PORT)")
    parser.add_argument("--baud", type=int, default=9600, choices=(9600, 19200, 38400, 57600, 115200),
                        help="line baud for the reply timing and DB (default 9600, DB=1 as shipped)")
    parser.add_argument("--device", type=int, default=0, metavar="NN",
                        help="device number 0..99, the last two digits of the name 4EXNN (default 0: frames @00)")
    parser.add_argument("--no-delay", action="store_true", help="answer at once instead of at the wire's pace")
    parser.add_argument("--turnaround-us", type=float, default=200.0,
                        help="controller turnaround, last command byte in to first reply byte out (default 200)")
    parser.add_argument("--limit", action="append", default=[], type=_axis_value("--limit"), metavar="X=MINUS:PLUS",
                        help="limit switches of an axis in pulses, e.g. X=-1000:300000 (a side may be empty); "
                             "repeatable")
    parser.add_argument("--home", action="append", default=[], type=_axis_value("--home"), metavar="X=POS",
                        help="home switch position of an axis in pulses, e.g. X=0; repeatable")
    parser.add_argument("--encoder-ratio", type=float, default=1.0,
                        help="encoder counts per pulse (default 1; 0 = encoder not wired, counters stay 0)")
    parser.add_argument("--encoder", action="append", default=[], type=_axis_value("--encoder"), metavar="X=COUNTS",
                        help="encoder counts per pulse of one axis, overriding --encoder-ratio (0 = not wired); "
                             "repeatable")
    parser.add_argument("--encoder-ppr", action="append", default=[], type=_axis_value("--encoder-ppr"),
                        metavar="X=LINES:PULSES",
                        help="a quadrature encoder on one axis' motor shaft, decoded 4x: e.g. X=2048:3200 (AMT112Q, "
                             "3200 pulses per turn) gives 4*2048/3200 = 2.56 counts per pulse; repeatable")
    parser.add_argument("--truth-log", metavar="FILE",
                        help="keep FILE updated with the JSON motion log (true position of every axis vs time)")
    faults = parser.add_argument_group("fault injection")
    faults.add_argument("--drop-every", type=int, default=0, metavar="N", help="drop every Nth reply")
    faults.add_argument("--garble-every", type=int, default=0, metavar="N", help="garble every Nth reply")
    faults.add_argument("--delay-ms", type=float, default=0.0, help="extra delay on every reply, ms")
    faults.add_argument("--disconnect-after", type=int, metavar="N", help="go silent for good after N replies")
    faults.add_argument("--limit-hit", action="append", default=[], type=_axis_value("--limit-hit"), metavar="X=POS",
                        help="a one-shot limit switch: the axis stops there and latches the error; repeatable")
    faults.add_argument("--stall", action="append", default=[], type=_axis_value("--stall"), metavar="X=SECONDS",
                        help="the motor of an axis stalls this long after start (pulses still counted); repeatable")
    return parser


def simulator_options(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The simulator's key=value options for the parsed flags (the Rust side validates them)."""
    options = [("baud", str(args.baud)), ("device", str(args.device)), ("turnaround_us", str(args.turnaround_us)),
               ("encoder_ratio", str(args.encoder_ratio))]
    options += [("limit", v) for v in args.limit] + [("home", v) for v in args.home]
    options += [("encoder", v) for v in args.encoder] + [("encoder_ppr", v) for v in args.encoder_ppr]
    if args.drop_every:
        options.append(("drop_every", str(args.drop_every)))
    if args.garble_every:
        options.append(("garble_every", str(args.garble_every)))
    if args.delay_ms:
        options.append(("delay_ms", str(args.delay_ms)))
    if args.disconnect_after is not None:
        options.append(("disconnect_after", str(args.disconnect_after)))
    options += [("limit_hit", v) for v in args.limit_hit] + [("stall", v) for v in args.stall]
    return options


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    from pymodaq_plugins_aefi import _engine

    # SIGTERM ends the server like Ctrl-C (the Rust loop checks for pending Python signals).
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    def ready(where: str) -> None:
        print(where, flush=True)
        timing = "no delay" if args.no_delay else f"wire timing at {args.baud} baud"
        print(f"aefi-arcus-sim: PMX-4EX-SA 4EX{args.device:02d} on {where}, {timing}", file=sys.stderr, flush=True)

    try:
        _engine.serve_arcus_sim(tcp=args.tcp, options=simulator_options(args), no_delay=args.no_delay,
                                truth_log=args.truth_log, on_ready=ready)
    except KeyboardInterrupt:
        return 0
    except ValueError as e:
        print(f"aefi-arcus-sim: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
