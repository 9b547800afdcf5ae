"""Type stubs of the Rust extension `pymodaq_plugins_aefi._engine` (crate aefi-scan-engine-py).

This file is the contract between the Rust bindings and the Python adapters. Every blocking call
releases the GIL. Units are in the names: steps (Arcus pulses), pps (pulses/s), ms, ns, volts.
Timestamps are CLOCK_MONOTONIC nanoseconds (`time.monotonic_ns()`).
"""
from collections.abc import Callable
from typing import Any, Literal, TypedDict

import numpy as np
import numpy.typing as npt

__version__: str
CHANNEL_NAMES: list[str]  # x_in_phase, x_quadrature, y_in_phase, y_quadrature, z_in_phase, z_quadrature
BENCH_STEP_UM: float      # stage travel per Arcus pulse on the AEFI bench (21.8 µm, 1/16 microstep)
MIN_SPEED_PPS: int        # HS/LS window of the PMX-4EX-SA (manual §6.1)
MAX_SPEED_PPS: int
POSITION_MIN_STEPS: int  # the controller's 32-bit position counter
POSITION_MAX_STEPS: int
MIN_ACCEL_MS: float

def max_accel_ms(high_speed_pps: float, low_speed_pps: float) -> float:
    """Largest ACC/DEC (ms) the PMX-4EX-SA accepts at this HS/LS (manual App. A.1)."""

AxisName = Literal["X", "Y", "Z", "U"]

# ---- errors -------------------------------------------------------------------------------------
# One tree: every exception _engine raises from a Rust error is an AefiError. The classes with a
# second built-in base keep `except TimeoutError` / `except ValueError` / `except OSError` working.
class AefiError(Exception): ...
class LinkError(AefiError): ...
class PortBusyError(LinkError): ...
class PortNotFoundError(LinkError): ...
class LinkTimeoutError(LinkError, TimeoutError): ...
class UsbUnavailableError(LinkError): ...
class ProtocolError(AefiError): ...
class ControllerError(AefiError):
    code: str  # the reply without '?' ("LIMIT", "PULSING", "ID"), or the latch of an axis ("LIMIT", "ALARM")
    axis: str | None  # the axis, when one is at fault
class BoardError(AefiError): ...
class PlanError(AefiError, ValueError):
    field: str  # the plan field that was refused
class InvalidArgumentError(AefiError, ValueError): ...  # an argument refused before anything is sent
class WaitTimeoutError(AefiError, TimeoutError): ...  # an axis still moving at a wait's deadline
class ScanAbortedError(AefiError): ...  # an abort ended a scan verb (prepare's move to the start)
class ScanStateError(AefiError): ...  # a scan verb out of order (kickoff before prepare, ...)
class SimulatorError(AefiError, OSError): ...  # a simulator could not be served (PTY, socket)

def now_ns() -> int:
    """The engine's clock (ns): CLOCK_MONOTONIC on Linux/macOS, QueryPerformanceCounter on Windows."""

# ---- field map (simulated sample) ---------------------------------------------------------------
def field_map_volts(x_mm: npt.NDArray[np.float64], y_mm: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Noiseless probe voltages (N, 6) at stage points (mm), channel order CHANNEL_NAMES."""

# ---- acquisition board --------------------------------------------------------------------------
class TimedMeasurementDict(TypedDict):
    volts: npt.NDArray[np.float64]   # (6,) V, CHANNEL_NAMES order
    codes: npt.NDArray[np.int64]     # (8,) raw 24-bit codes
    n_avg: int
    t_send_ns: int                   # just before the command's first byte left
    t_recv_ns: int                   # when the data line's terminator arrived
    t_mid_ns: int                    # estimated middle of the MCU averaging window (the sample instant)
    t_err_ns: int                    # bound of that estimate
    window_ns: int                   # averaging window (n_avg conversions)

class BoardController:
    """The AEFI acquisition board on one link: sim://NAME (the board of that bench),
    serial://PATH (1.5 Mbaud unless ?baud= is given), tcp://HOST:PORT. Opened exclusively.
    While a scan has borrowed it every method raises PortBusyError naming the borrower.
    Errors: LinkError subclasses (timeout, unplugged, busy, not found; the message names the
    port), BoardError (a reply that does not parse, a refused command), InvalidArgumentError (a
    ValueError: bad argument)."""
    def __init__(self, url: str, timeout_s: float = 1.0) -> None: ...
    @property
    def url(self) -> str: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def is_lent(self) -> bool: ...
    @property
    def borrower(self) -> str | None: ...
    @property
    def timeout_s(self) -> float: ...
    def measure(self, n_avg: int = 1) -> npt.NDArray[np.float64]:
        """Six channel voltages (V) averaged n_avg (1..255) times on the MCU."""
    def measure_timed(self, n_avg: int = 1) -> TimedMeasurementDict: ...
    def read_codes(self, n_avg: int = 1) -> npt.NDArray[np.int64]:
        """The 8 raw ADC codes."""
    def configure(self, dds_frequency_hz: float = 1000.0, dds_gains: tuple[int, int, int, int] | None = None,
                  dds_phases: tuple[int, int, int, int] | None = None,
                  adc_gains: tuple[int, int, int, int] | None = None, osr: int = 4096,
                  iclk_divider: int = 2) -> int:
        """Write DDS (amplitude/phase words, 65536 = one turn) and ADC (gain 1..16, OSR) settings
        through the register commands; returns the number of registers written."""
    def close(self) -> None: ...
    def __enter__(self) -> BoardController: ...
    def __exit__(self, *exc: object) -> bool: ...

def sim_board_fault(url: str, fault: Literal["garbage", "short", "silence", "unplug", "clear"], count: int = 1) -> None:
    """Fault in the simulated board of sim://NAME for its next `count` measurements (unplug: until clear)."""
def sim_board_register_writes(url: str) -> list[tuple[int, int]]:
    """Every register write the simulated board of sim://NAME accepted, (address, value), oldest first."""
def sim_board_truth(url: str, max: int = 1_000_000) -> dict[str, npt.NDArray[Any]]:
    """Ground truth of the last measurements: t_mid_ns, n_avg, x_mm, y_mm, volts (N, 6) (the detection
    chain's noiseless output), lag_ns (the chain's true lag: low-pass τ + ADC filter group delay)."""

# ---- acquisition board simulator ----------------------------------------------------------------
def serve_board_sim(probe_mm: tuple[float, float] = (38.0, 32.0), timing: Literal["wire", "none"] = "wire",
                    noise_volts: float = 300e-6, seed: int | None = None,
                    on_ready: Callable[[str], None] | None = None,
                    arcus_options: list[tuple[str, str]] | None = None,
                    on_arcus_ready: Callable[[str], None] | None = None,
                    mm_per_step: float = 0.0218, offset_volts: float = 0.0,
                    drift_volts_per_s: float = 0.0, filter_tau_ms: float = 0.0) -> Literal["stopped", "unplugged"]:
    """Serve a simulated board on a new PTY (on_ready(path) once); blocks until SIGINT or unplug.
    With arcus_options (Arcus simulator key=value options, may be empty) a simulated Arcus is served
    too (on_arcus_ready(path)) and the board's probe follows its true X/Y (steps × mm_per_step).
    filter_tau_ms: the detection chain's first-order low-pass (ms, 0: none)."""

# ---- Arcus PMX-4EX-SA ---------------------------------------------------------------------------
class AxisStatusDict(TypedDict):
    """Named MST bits of one axis (M 6.15 Table 6.2) and the raw word."""
    moving: bool            # any of accel/decel/constant_speed: the axis is pulsing
    accel: bool
    decel: bool
    constant_speed: bool
    alarm: bool             # alarm input active
    plus_limit: bool        # + limit input active
    minus_limit: bool       # - limit input active
    home_input: bool
    plus_limit_error: bool  # latched until clear()
    minus_limit_error: bool
    alarm_error: bool
    toc_timeout: bool       # TOC communication watchdog expired (bit 11)
    raw: int

class SpeedsDict(TypedDict):
    high_speed_pps: int
    low_speed_pps: int
    accel_ms: int
    decel_ms: int

class ArcusController:
    """One Arcus link: sim://NAME[?baud=&timing=wire|none&device=&...], serial://PATH[?baud=&device=],
    tcp://HOST:PORT[?device=&baud=], usb://4ex00, performax://DEVICE[?dll=PATH] (PerformaxCom.dll;
    DEVICE an index or a serial string like 4ex00). Opening a serial port is exclusive (PortBusyError
    for a second opener, PortNotFoundError listing the ports that exist). Positions are pulses.
    While a scan has borrowed the link every method raises PortBusyError naming the borrower.
    A `?...` reply raises ControllerError(.code); bad arguments raise InvalidArgumentError (a
    ValueError) before sending; wait_idle raises WaitTimeoutError (a TimeoutError)."""
    def __init__(self, url: str, timeout_s: float = 1.0) -> None: ...
    @property
    def url(self) -> str: ...
    @property
    def is_open(self) -> bool: ...
    @property
    def is_lent(self) -> bool: ...
    @property
    def borrower(self) -> str | None: ...
    def query(self, cmd: str) -> str:
        """Raw command text without framing (e.g. "PX"); returns the reply text."""
    def query_timed(self, cmd: str) -> tuple[str, int, int]:
        """As query: (reply, t_send_ns, t_recv_ns), stamped on the engine clock (now_ns)."""
    def round_trip_model_ns(self, cmd: str, reply: str) -> int | None:
        """The link model's round trip of cmd answered by reply: wire bytes at the baud (RS-485) or two
        USB frames, plus a simulator's turnaround (0 on hardware). None: unknown baud (TCP)."""
    def position(self, axis: AxisName) -> int: ...
    def positions(self) -> dict[str, int]:
        """{"X": .., "Y": .., "Z": .., "U": ..} from one PP exchange."""
    def status(self, axis: AxisName) -> AxisStatusDict: ...
    def is_moving(self, axis: AxisName | None = None) -> bool: ...
    def move_abs(self, axis: AxisName, target_steps: int) -> None: ...
    def move_rel(self, axis: AxisName, delta_steps: int) -> None: ...
    def jog(self, axis: AxisName, positive: bool = True) -> None: ...
    def stop(self, axis: AxisName | None = None) -> None:
        """Decelerated stop (all axes when None)."""
    def abort(self, axis: AxisName | None = None) -> None:
        """Immediate stop (all axes when None)."""
    def home(self, axis: AxisName, positive: bool = False, mode: int = 0) -> None:
        """Start homing, mode 0..4 (the simulator refuses 2 and 3); returns at once."""
    def set_position(self, axis: AxisName, steps: int) -> None: ...
    def speeds(self, axis: AxisName) -> SpeedsDict:
        """Effective values: per-axis where non-zero, else global."""
    def set_speeds(self, axis: AxisName, high_speed_pps: int | None = None, low_speed_pps: int | None = None,
                   accel_ms: int | None = None, decel_ms: int | None = None) -> None: ...
    def clear(self, axis: AxisName | None = None) -> None:
        """Clear latched limit/alarm errors (all axes when None)."""
    def enable(self, axis: AxisName, on: bool = True) -> None: ...
    def wait_idle(self, axis: AxisName | None = None, timeout_s: float = 30.0) -> None: ...
    def wire_limit_hz(self) -> float | None:
        """Most PX polls/s the baud allows (None: baud unknown, e.g. TCP without ?baud=)."""
    def close(self) -> None: ...
    def __enter__(self) -> ArcusController: ...
    def __exit__(self, *exc: Any) -> bool: ...

# ---- What is connected, and the link timing models ----------------------------------------------
class UsbDeviceDict(TypedDict):
    url: str  # usb://4ex00, or the bus position when the serial string could not be read
    serial: str
    bus: int
    address: int
    problem: str | None  # why it cannot be opened and what to do (udev rule, Windows driver); None: opened

class PerformaxDeviceDict(TypedDict):
    index: int
    serial: str  # 4ex00
    description: str  # Performax USB
    url: str  # performax://4ex00

def serial_ports() -> list[str]:
    """Serial ports the OS lists (/dev/ttyUSB0, COM10)."""
def usb_devices() -> list[UsbDeviceDict]:
    """Performax controllers libusb sees (UsbUnavailableError when libusb cannot start)."""
def performax_devices(dll: str | None = None) -> list[PerformaxDeviceDict]:
    """Controllers PerformaxCom.dll sees; dll = the file or its folder (None: AEFI_PERFORMAX_DLL_DIR, then the OS
    search). UsbUnavailableError when the DLL is missing, 32-bit or fails."""
def usb_round_trip_model_ns(turnaround_ns: int = 0) -> int:
    """USB link model of one command: two 1 ms frames plus the turnaround."""
def board_round_trip_model_ns(n_avg: int, data_bytes: int = 70, baud: int = 1_500_000) -> int:
    """Board timing model: round trip of m<n_avg>* (legacy two-rate fit)."""
def board_window_model_ns(n_avg: int) -> int:
    """Board timing model: the averaging window of m<n_avg>* (ns)."""

# ---- Arcus simulator ----------------------------------------------------------------------------
def sim_truth(url: str, axis: AxisName, t_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Exact true positions (pulses, counter frame) of an in-process sim:// bench at the instants."""
def sim_truth_encoder(url: str, axis: AxisName, t_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """True encoder counts (continuous; E reads their floor) of an in-process sim:// bench at the instants."""
def sim_sync_events(url: str) -> list[dict[str, Any]]:
    """Every SYN firing of an in-process bench: axis, armed_ns, t_ns, position_counts, condition."""
def sim_truth_log(url: str) -> str:
    """The bench's motion log as JSON (the format of aefi-arcus-sim --truth-log)."""
def sim_truth_from_log(log_json: str, axis: AxisName, t_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """True positions from a motion log written by another process (aefi-arcus-sim --truth-log)."""
def sim_inject_fault(url: str, kind: Literal["drop", "garble", "corrupt", "delay", "disconnect", "reconnect", "limit",
                                             "stall", "unstall", "input"], **params: Any) -> None:
    """Fault now in an in-process bench: drop(count=1), garble(count=1), corrupt(count=1) (the next numeric
    replies lose their first digit: noise that parses), delay(delay_ms, count=1),
    disconnect, reconnect, limit(axis, position_steps), stall(axis), unstall(axis), input(input, on=True)."""
def sim_sync_event(url: str, axis: str) -> tuple[int, int | None] | None:
    """The SYN output of `axis`: (armed_ns, event_ns) while armed (event_ns: when the encoder compare
    fires or fired on the current plan; None if it does not), None while SYN is off."""
def sim_crossing_ns(url: str, axis: str, position_steps: float, after_ns: int) -> int | None:
    """First instant ≥ after_ns at which `axis` truly reaches position_steps (counter frame), None if it
    does not on the current plan."""
ARCUS_SIM_CHOICES: list[tuple[str, str]]  # (topic, what the simulator does) for every unverified behaviour
def serve_arcus_sim(tcp: str | None = None, options: list[tuple[str, str]] = ..., no_delay: bool = False,
                    truth_log: str | None = None, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve a simulated PMX-4EX-SA on a new PTY (tcp=None) or on TCP ("HOST:PORT"); on_ready(path or
    tcp://HOST:PORT) once; blocks until SIGINT (KeyboardInterrupt). options: ("limit", "X=-1000:300000"),
    ("home", "X=0"), ("baud", "9600"), ("device", "0"), ("turnaround_us", "200"), ("encoder_ratio", "1"),
    ("drop_every", "N"), ("garble_every", "N"), ("delay_ms", "x"), ("disconnect_after", "N"),
    ("limit_hit", "X=5000"), ("stall", "X=2.5")."""

# ---- flyscan engine -----------------------------------------------------------------------------
class ProgressDict(TypedDict):
    state: Literal["idle", "preparing", "moving_to_start", "ready", "flying", "between_lines", "stopping",
                   "completed", "aborted", "failed"]
    lines_done: int
    lines_total: int
    current_line: int
    samples: int
    fast_steps: float  # NaN before the first poll
    slow_steps: float
    elapsed_s: float
    dropped_records: int

class LatenessDict(TypedDict):
    p50: float  # µs
    p99: float
    max: float
    count: int

class RtDict(TypedDict):
    fifo: bool
    pinned_cpu: int | None
    mlocked: bool  # the process' resident memory was locked (mlockall) while the loop ran
    prefaulted_bytes: int  # the loop's buffers faulted in before its first tick
    detail: str

class LineTimeDict(TypedDict):
    line: int
    t_start_ns: int
    t_end_ns: int
    samples: int
    # The SYN compare output's firing at the line's first grid point (plans with an encoder; None
    # otherwise): the line's hardware time base, its bound, when the status was seen at 2 and last
    # at 1, the armed count and where the axis was then (steps).
    syn_t_ns: int | None
    syn_err_ns: float | None
    syn_seen_ns: int | None
    syn_waiting_ns: int | None
    syn_position_counts: int | None
    syn_position_steps: float | None

class ScanErrorDict(TypedDict):
    type: str  # the _engine exception class of the fault: "LinkTimeoutError", "ControllerError", ...
    message: str

class ScanStatsDict(TypedDict):
    status: Literal["completed", "aborted", "failed"]
    error: ScanErrorDict | None
    lines: int
    samples: int
    wall_time_s: float  # prepare's start to the end, less the wait between ready and kickoff
    prepare_s: float  # checks, the move to the start, arming
    physical_min_s: float | None  # the plan at the configured speeds and ramps, with every allowed overlap
    efficiency: float | None  # physical_min_s / wall_time_s (completed scans)
    overhead_per_line_ms: float | None  # (wall_time_s - physical_min_s) / lines (completed scans)
    seed: int | None  # the plan's seed of the simulated noise
    polls: int
    poll_rate_hz: float
    wire_limit_hz: float  # inf when the link has no wire time (untimed simulator, USB)
    cadence: str  # "triggered" | "back_to_back" (the board) | "hardware_clocked"
    trigger_lateness_us: LatenessDict | None  # None without a trigger schedule (back to back, hardware clocked)
    missed_triggers: int | None  # None without a trigger schedule
    dropped_records: int
    sample_rate_hz: float  # achieved while flying (= detector_rate_hz)
    detector_rate_hz: float  # achieved while flying
    detector_rate_limit_hz: float | None  # trigger/clock rate, or the board's timing model at board_n_avg
    smear_steps: float
    rt: RtDict
    line_times: list[LineTimeDict]
    abort_latency_ms: float | None  # abort request → ABORT written on the link
    detector_faults: int
    rejected_samples: int  # board replies that did not parse or missed their deadline (never recorded)
    link_retries: int  # position/status queries asked again: a timeout, a garbled reply, an implausible position
    implausible_positions: int  # positions farther than the axis can move since the last (read again, never fitted)

class TriggerBenchmarkDict(TypedDict):
    rate_hz: float
    duration_s: float
    detector: str  # "virtual_probe" | "board"
    ticks: int
    samples: int  # samples the detector delivered
    motion_commands: int  # commands sent to the simulated Arcus meanwhile
    trigger_lateness_us: LatenessDict
    missed_triggers: int
    dropped_records: int
    rt: RtDict

class ScanCompletion:
    """What RustScanExecutor.complete() returns: done when the last line is, or the scan ended otherwise."""
    @property
    def done(self) -> bool: ...
    def wait(self, timeout_s: float | None = None) -> bool:
        """Waits until done (at most timeout_s; GIL released); returns done. Never aborts."""
    def progress(self) -> ProgressDict: ...
    def stats(self) -> ScanStatsDict:
        """The final statistics; waits for the end (GIL released)."""

class RustScanExecutor:
    """One flyscan at a time on the Rust engine, in four verbs (docs/architecture.md "Flyscan plan",
    "Records"): prepare, kickoff, complete, collect; abort in any state.

    `prepare` validates the plan against the controller (PlanError(.field)) and checks every axis it
    uses (ControllerError naming the axis and its latch) before any motion, borrows `arcus`' link
    (arcus.is_lent is true until the scan ends, whatever the ending), arms the detector and brings the
    axes to the first run-up start; it returns when the scan is ready (GIL released meanwhile), or
    raises ScanAbortedError if abort() ended it. `kickoff` lets it fly and returns at once. A motion
    thread and a real-time trigger thread run the scan. Records come out by `collect`. Dropping the
    executor aborts and joins a running scan, with the GIL released."""
    def __init__(self) -> None: ...
    @property
    def running(self) -> bool: ...
    def prepare(self, plan: dict[str, Any], arcus: ArcusController, board: Any | None = None) -> None:
        """Plan keys beyond the table: `step_um` (µm per step, the virtual probe's mm scale,
        default 21.8), `probe_noise_volts` (virtual probe RMS noise, default 0) and `seed` (of the
        simulated noise; None: fresh). Required: fast_axis, fast_start_steps, fast_stop_steps,
        speed_pps. `detector` defaults to "board" when a board is given, else "virtual_probe" on a
        sim:// link, else "none"; "external" takes samples given to `feed`. Unknown keys raise
        PlanError naming the key. ScanStateError while another scan is prepared or running."""
    def kickoff(self) -> None:
        """Starts flying the prepared scan; returns at once. ScanStateError unless ready,
        ScanAbortedError after an abort."""
    def complete(self) -> ScanCompletion: ...
    def collect(self, max_records: int | None = None) -> dict[str, npt.NDArray[Any]]:
        """Records since the last collect as columns: seq u64, t_ns i64, line u32, fast_steps,
        slow_steps, pos_err_steps f64, encoder_counts f64 (NaN without an encoder), flags u32,
        channels (N, 6) f64 volts."""
    def abort(self) -> None:
        """Any state: ABORT reaches the controller within ~20 ms (one link transaction)."""
    def start(self, plan: dict[str, Any], arcus: ArcusController, board: Any | None = None) -> None:
        """prepare then kickoff."""
    def progress(self) -> ProgressDict:
        """Lock-free snapshot; cheap at any rate."""
    def drain(self, max_records: int | None = None) -> dict[str, npt.NDArray[Any]]:
        """The same as collect."""
    def feed(self, t_ns: npt.NDArray[np.int64], volts: npt.NDArray[np.float64]) -> int:
        """Samples of an external detector (detector="external"): t_ns (N,), volts (N, 6).
        Returns how many were accepted (the rest did not fit)."""
    def join(self, timeout_s: float | None = None) -> ScanStatsDict:
        """Waits for the end; after `timeout_s` a running scan is aborted and waited for."""

def trigger_benchmark(rate_hz: float, duration_s: float, realtime: bool = True,
                      detector: str = "virtual_probe") -> TriggerBenchmarkDict:
    """The production pacer sampling `detector` ("virtual_probe" or "board") on a real-time thread for
    duration_s, on a simulated bench whose Arcus is driven meanwhile (GIL released)."""
