"""aefi-board-sim: the simulated AEFI acquisition board on a pseudo-terminal.

The first line printed on stdout is the board's PTY path; open it as a serial port (any baud: a
PTY has none) and speak the board's protocol. The probe stays at --probe-mm, or, with
--with-arcus, a simulated Arcus is served too (second stdout line: its PTY, RS-485 framing
'@00<cmd>\r') and the board reads the field where that Arcus's X/Y axes truly are: one process,
one ground truth, as on the bench. Stops on Ctrl-C or SIGTERM.
"""
from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Optional

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
  - the register map is the legacy code's (11 A_SYS_CFG, 13 CLK1, 14 CLK2 = ICLK code*32 + OSR
    code, 17-20 ADC gains as log2, 62/63 DDS tuning word MSB/LSB = f * 2^32 / 16 MHz, 38/39 modes,
    50-53 DDS gains, 64-67 phases, 34-37 offsets, 46-49 constants); other addresses are refused;
    the ADC gain writes go to both ADS131A04 (codes k and k+4 share a gain); the signal scales with
    the DDS1/DDS2 amplitude (0 = sources off);
  - timing: T(n) = wire + 5.41 ms + n * 0.2389 ms + 5.41 ms + wire at 1.5 Mbaud, fitted to the
    legacy bench (73 Hz at n=10, 43 Hz at n=50); the ack is sent while the MCU averages;
  - noise: 300 uV per conversion (1 sigma), divided by sqrt(n);
  - baseline: every channel carries --offset-uv plus --drift-uv-per-s x the time since the first
    measurement, excitation on or muted (DDS1/DDS2 gains 0); both 0 by default;
  - detection chain (with --filter-tau-ms > 0; the default 0 is an ideal detector without lag):
    each channel goes through a first-order low-pass of --filter-tau-ms (the synchronous
    detection's output filter; the bench's real value is unknown, its notes say so) on the
    demodulated outputs, then the ADS131A04 sinc3 filter's group delay, 1.5 data periods at the
    configured OSR (datasheet SBAS590E, "Digital Decimation Filter", Equation 6; 16.384 MHz CLKIN
    / 2 / ICLK divider: 1.4996 ms at the bench's OSR 4096); muting the sources (DDS1/DDS2 gains 0)
    makes the outputs decay with the same low-pass. The chain lags the probe by tau + the group
    delay, which a flyscan sees as a shift of speed x lag along each line.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aefi-board-sim", description=__doc__, epilog=PROTOCOL_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pty", action="store_true", default=True,
                        help="serve on a new pseudo-terminal (the only transport; the default)")
    parser.add_argument("--probe-mm", default="38,32", metavar="X,Y",
                        help="where the (static) probe is, stage mm (default 38,32: on the strongest feature)")
    parser.add_argument("--with-arcus", action="store_true",
                        help="also serve a simulated Arcus (second stdout line) whose true X/Y position the probe "
                             "follows")
    parser.add_argument("--arcus-baud", type=int, default=9600, choices=(9600, 19200, 38400, 57600, 115200),
                        help="with --with-arcus: the Arcus line baud (default 9600)")
    parser.add_argument("--mm-per-step", type=float, default=0.0218,
                        help="with --with-arcus: stage mm per Arcus step (default 0.0218, 1/16 microstep)")
    parser.add_argument("--timing", choices=("wire", "none"), default="wire",
                        help="wire: reply when the real board would; none: at once")
    parser.add_argument("--noise-uv", type=float, default=300.0, help="noise of one conversion, µV (1 sigma)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the noise (reproducible runs)")
    parser.add_argument("--offset-uv", type=float, default=0.0,
                        help="offset of every channel, µV, with or without excitation: the baseline a differential "
                             "scan measures with the excitation muted (default 0; sim:// option board_offset_uv)")
    parser.add_argument("--drift-uv-per-s", type=float, default=0.0,
                        help="drift of every channel, µV/s from the first measurement, with or without excitation "
                             "(default 0; sim:// option board_drift_uv_per_s)")
    parser.add_argument("--filter-tau-ms", type=float, default=0.0,
                        help="time constant (ms) of the detection chain's first-order low-pass on the demodulated "
                             "outputs (default 0: no chain, an ideal detector without lag; the real bench's value is "
                             "unknown); with a chain, the ADS131A04 filter's group delay at the configured OSR "
                             "(1.5 ms at OSR 4096) comes on top")
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
        print(f"{row['n_avg']:5d}  {row['round_trip_ms']:15.2f}  {row['rate_hz']:9.1f}  "
              f"{row['window_ms']:21.2f}  {note}")
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

    if not 0 <= args.filter_tau_ms <= 10_000:
        raise SystemExit(f"aefi-board-sim: --filter-tau-ms must be in [0, 10000] ms (got {args.filter_tau_ms})")
    if args.mm_per_step <= 0:
        raise SystemExit(f"aefi-board-sim: --mm-per-step must be > 0 (got {args.mm_per_step})")
    where = "the simulated Arcus's X/Y" if args.with_arcus else f"{probe[0]:g},{probe[1]:g} mm"

    def ready(path: str) -> None:
        print(path, flush=True)
        print(f"aefi-board-sim: board on {path}, probe at {where}, timing={args.timing}, "
              f"detection low-pass {args.filter_tau_ms:g} ms", file=sys.stderr, flush=True)

    def arcus_ready(path: str) -> None:
        print(path, flush=True)
        print(f"aefi-board-sim: Arcus PMX-4EX-SA on {path} at {args.arcus_baud} baud (frames @00<cmd>CR)",
              file=sys.stderr, flush=True)

    arcus_options = [("baud", str(args.arcus_baud))] if args.with_arcus else None
    try:
        ended = _engine.serve_board_sim(probe_mm=probe, timing=args.timing, noise_volts=args.noise_uv * 1e-6,
                                        seed=args.seed, on_ready=ready, arcus_options=arcus_options,
                                        on_arcus_ready=arcus_ready, mm_per_step=args.mm_per_step,
                                        offset_volts=args.offset_uv * 1e-6,
                                        drift_volts_per_s=args.drift_uv_per_s * 1e-6,
                                        filter_tau_ms=args.filter_tau_ms)
    except KeyboardInterrupt:
        return 0
    print(f"aefi-board-sim: {ended}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
