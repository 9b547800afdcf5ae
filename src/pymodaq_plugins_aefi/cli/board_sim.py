"""aefi-board-sim: the simulated AEFI acquisition board on a pseudo-terminal.

The first line printed on stdout is the PTY path; open it as a serial port (any baud: a PTY has
none) and speak the board's protocol. Stops on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import signal
import sys
from typing import Optional, Sequence

PROTOCOL_HELP = """\
protocol (ASCII, commands end with '*'; replies end with CR LF):
  a<addr>*   select register <addr>            -> a<addr>*OK
  d<val>*    write <val> (0..65535) to it      -> d<val>*OK
  m<n>*      measure, n = 1..255 averages       -> m<n>*OK, then 8 codes: c1<TAB>...c8<TAB>
             codes 1-6 = X/Y/Z x in-phase/quadrature, V = code / 2^23 * 2.442 V / gain

assumptions (the real board's documentation leaves these open; the simulator does exactly this):
  - the acknowledgement is the command echoed followed by OK (9 bytes for m127*, as the legacy
    LabVIEW reader expects); errors replace it: ?ADDR, ?NOADDR, ?RANGE, ?CMD + the command;
  - n_avg is limited to 255 (an int32 sum of 24-bit codes);
  - register map: 11 A_SYS_CFG, 13 CLK1, 14 CLK2 (ICLK code*32 + OSR code), 17-20 ADC gains
    (log2), 62/63 DDS tuning word MSB/LSB (f * 2^32 / 16 MHz), 38/39 modes, 50-53 DDS gains,
    64-67 DDS phases, 34-37 offsets, 46-49 constants; other addresses are refused;
  - timing: T(n) = wire + 5.41 ms + n * 0.2389 ms + 5.41 ms + wire at 1.5 Mbaud, fitted to the
    legacy bench (73 Hz at n=10, 43 Hz at n=50); the ack is sent while the MCU averages;
  - noise: 300 uV per conversion (1 sigma), divided by sqrt(n).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aefi-board-sim", description=__doc__, epilog=PROTOCOL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pty", action="store_true", default=True,
                        help="serve on a new pseudo-terminal (the only transport; the default)")
    parser.add_argument("--probe-mm", default="38,32", metavar="X,Y",
                        help="where the (static) probe is, stage mm (default 38,32: on the strongest feature)")
    parser.add_argument("--timing", choices=("wire", "none"), default="wire",
                        help="wire: reply when the real board would; none: at once")
    parser.add_argument("--noise-uv", type=float, default=300.0, help="noise of one conversion, µV (1 sigma)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the noise (reproducible runs)")
    parser.add_argument("--rates", action="store_true",
                        help="instead of serving: measure the sample rate at n = 1, 10, 127 on the in-process "
                             "simulated board (wire timing) and compare with the model and the legacy bench")
    return parser


#: The legacy bench's figures (notes/aefi-legacy.md): rate (Hz) by n_avg, and "~16 ms per command".
LEGACY_RATES_HZ = {10: 73.0, 50: 43.0}
LEGACY_COMMAND_MS = 16.0


def measure_rates(n_values: Sequence[int] = (1, 10, 127), repeats: int = 20) -> list[dict[str, float]]:
    """Round trips of `m<n>*` on the in-process simulated board, timed by the driver's own stamps."""
    import statistics

    from pymodaq_plugins_aefi import _engine

    rows = []
    with _engine.BoardController("sim://board-rates?timing=wire") as board:
        board.measure_timed(1)  # first exchange outside the statistics
        for n_avg in n_values:
            trips_ns = []
            for _ in range(repeats):
                m = board.measure_timed(n_avg)
                trips_ns.append(m["t_recv_ns"] - m["t_send_ns"])
            trip_ms = statistics.median(trips_ns) * 1e-6
            rows.append({"n_avg": n_avg, "round_trip_ms": trip_ms, "rate_hz": 1e3 / trip_ms,
                         "window_ms": m["window_ns"] * 1e-6})
    return rows


def print_rates() -> None:
    print("n_avg  round trip (ms)  rate (Hz)  averaging window (ms)  legacy bench")
    for row in measure_rates():
        legacy = LEGACY_RATES_HZ.get(int(row["n_avg"]))
        note = f"{legacy:.0f} Hz" if legacy else "-"
        print(f"{row['n_avg']:5d}  {row['round_trip_ms']:15.2f}  {row['rate_hz']:9.1f}  {row['window_ms']:21.2f}  {note}")
    print(f"legacy bench: 73 Hz at n=10, 43 Hz at n=50 (the fit's two points); ~{LEGACY_COMMAND_MS:.0f} ms per "
          "command (~62 commands/s) for any command")


def parse_probe(text: str) -> tuple[float, float]:
    try:
        x_mm, y_mm = (float(v) for v in text.split(","))
    except ValueError:
        raise SystemExit(f"aefi-board-sim: --probe-mm must be X,Y in mm (got {text!r})") from None
    return x_mm, y_mm


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rates:
        print_rates()
        return 0
    probe = parse_probe(args.probe_mm)
    if args.noise_uv < 0:
        raise SystemExit(f"aefi-board-sim: --noise-uv must be >= 0 (got {args.noise_uv})")
    from pymodaq_plugins_aefi import _engine

    # SIGTERM ends the server like Ctrl-C (the Rust loop checks for pending Python signals)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    def ready(path: str) -> None:
        print(path, flush=True)
        print(f"aefi-board-sim: board on {path}, probe at {probe[0]:g},{probe[1]:g} mm, timing={args.timing}",
              file=sys.stderr, flush=True)

    try:
        ended = _engine.serve_board_sim(probe_mm=probe, timing=args.timing, noise_volts=args.noise_uv * 1e-6,
                                        seed=args.seed, on_ready=ready)
    except KeyboardInterrupt:
        return 0
    print(f"aefi-board-sim: {ended}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
