//! A faithful model of the Arcus Performax PMX-4EX-SA (notes/arcus-protocol.md §8), not a mock.
//!
//! **Time-analytic**: there is no tick thread. Every axis holds a list of motion [`Piece`]s
//! (constant acceleration against `mono_ns`); a command received at `t` cuts the list at `t` and
//! appends the new plan, so the position of any axis at any instant is exact
//! ([`ArcusSim::true_position_steps`]). Events that a plan implies (a limit switch reached, the
//! home switch zeroing the counter) are computed when the plan is made and take effect when
//! time passes them.
//!
//! Frames: the owner of the model (in-process link, PTY or TCP server) calls
//! [`ArcusSim::handle_command`] with the instant the frame *fully arrived*; state changes happen
//! then, positions in the reply are sampled then, and the reply is complete after the
//! turnaround plus the reply bytes at the configured baud ([`ArcusSim::reply_ready_ns`]).
//!
//! Simulator choices where the controller's behaviour is unknown (marked `[U]` in the notes) are listed in
//! [`UNVERIFIED_CHOICES`] and printed by `aefi-arcus-sim --help`.
use aefi_scan_engine::arcus::framing::{wire_time_ns, Framing};
use aefi_scan_engine::arcus::protocol::{
    Axis, AxisStatus, Command, ControllerError, MotorStatus, MoveMode, Reply, SpeedParam, SyncRegister,
};

mod config;
mod profile;
mod published;
mod truth;

pub use config::{AxisSwitches, FaultConfig, SimConfig, BAUD_CODES, DEFAULT_TURNAROUND_NS};
pub use profile::{max_accel_ms, plan_duration_ns, plan_move, Phase, Piece, Ramp, FOREVER_NS};
pub use published::{PublishedTruth, TruthPublisher, TruthRead, HORIZON_NS};
pub use truth::{AxisTruth, TruthLog};

/// Firmware version string answered to `VER` (exact real string unknown, notes §4).
pub const FIRMWARE_VERSION: &str = "V180BL";

/// Every simulator choice for a behaviour the notes mark `[U]` (or `[I]`), for `--help`.
pub const UNVERIFIED_CHOICES: &[(&str, &str)] = &[
    ("?PULSING scope", "per axis: a move on an idle axis is accepted while another axis pulses"),
    ("VER reply", "V180BL"),
    ("ID", "answered ?ID (not a PMX-4EX-SA command), like every unknown or lower-case command"),
    ("turnaround", "200 us from the last command byte to the first reply byte (--turnaround-us)"),
    ("longest command", "frames longer than 256 bytes without CR are dropped as line noise"),
    ("frames for another device number", "no reply at all"),
    ("text before '@' / bare LF", "ignored; a frame starts at its last '@'"),
    ("MST buffer fields", "0:0:0:36 (buffer off, 36 free slots)"),
    ("MST bits 0-2", "exclusive: exactly one while pulsing (accel, constant, decel), none at rest"),
    ("out-of-range values", "HS/LS outside 1..6000000, ACC/DEC < 0, EO > 15 etc. answer ?<command> (as unknown)"),
    ("factory speeds", "global HS 1000, LS 100, ACC 300 ms, DEC 300 ms, EDEC 0; per-axis 0 (= use global)"),
    ("HS <= LS", "the move runs at HS with no ramp"),
    ("enable outputs at power-up", "EO=0; pulses are generated and counted whatever EO says"),
    ("move toward an active limit switch", "refused with ?LIMIT (nothing latched), also with IERR=1"),
    ("limit hit during motion", "stops only that axis (and the axes of its interpolation), at once"),
    ("linear interpolation speed", "global HS/LS/ACC/DEC apply to the longest axis; the others scale"),
    ("STOP ramp", "from the current speed down to LS at the DEC rate (ACC rate with EDEC=0), then the pulse in progress is finished at LS"),
    ("ABORT", "the pulse counter keeps the pulses emitted; the motor rests on that whole pulse"),
    ("homing modes 2 and 3", "refused with ?<command> (no Z index is simulated)"),
    ("home switch", "a point at --home; its input (MST bit 6) is active while the axis is on it; without --home, modes 0/4 run until a limit or STOP"),
    ("homing mode 0 already on the home switch", "zeroes at once, no motion"),
    ("homing mode 1", "at the limit: immediate stop, no error latched, back off 1 pulse at LS, zero there"),
    ("homing mode 4", "after the ramp-down, returns at LS to the home point and zeroes position and encoder"),
    ("T when idle or not a single-axis move", "OK, ignored; T<n> is an absolute target in ABS and INC mode"),
    ("SSPD ramp", "the axis ACC rate, up or down; SSPD when idle: OK, ignored"),
    ("TOC bit 11", "set on all axes when the host was silent for TOC ms; cleared by CLR or TOC=; motion goes on"),
    ("DN=/DB=", "read back the new value at once; the address and baud change only after STORE and a power cycle, which the simulator never has"),
    ("encoder", "on the motor shaft: follows the true motor position (so a stall is seen as slip: the pulse counter runs on, the encoder does not) at --encoder-ratio counts per pulse (default 1; 0 = not wired, stays 0), per axis with --encoder X=2.56 or --encoder-ppr X=2048:3200 (4x quadrature: 4*2048/3200 = 2.56)"),
    ("encoder count", "4x quadrature: the last whole count passed (floor of ratio * motor position, minus the E= offset), in the direction of the pulse counter"),
    ("SYN condition", "1 = encoder equals P (Table 6.8), 2 = below, 3 = above; compared with the simulated encoder"),
    ("LT trigger", "a rising edge of the simulated DI (X=DI4, Y=DI6, Z=DI5, U=DI8) set through the bench API"),
    ("digital/analog inputs", "DI reads 0 unless set through the bench API; AI1..8 read 0 mV"),
    ("CLR without axis", "clears every axis"),
    ("stall fault", "the motor stops while pulses are still counted; limits are evaluated on the commanded motion"),
    ("?ERRORED", "never answered (which states and commands cause it is unknown)"),
    ("alarm input", "never active, so ?ALARM and MST bits 3/9 never appear"),
    ("interpolated move with one of its axes pulsing", "refused with ?PULSING, nothing starts"),
    ("position counter width", "32-bit: targets, positions and TOC outside the signed 32-bit range answer ?<command>; a jog is not wrapped"),
    ("not modeled", "buffered moves (BO/BF/I), circles/arcs, S-curve (SCV), StepNLoop, standalone programs, polarity (PO, DIP, DOP, EOP), boot settings (EOBOOT, DOBOOT), timer (TR): answered ?<command>"),
];

const MAX_SPEED: i64 = aefi_scan_engine::arcus::limits::MAX_SPEED_PPS;

/// A fault injected into a running simulator (tests, mid-scan).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Drop the next `count` replies.
    DropReplies {
        /// How many.
        count: u64,
    },
    /// Garble the next `count` replies.
    GarbleReplies {
        /// How many.
        count: u64,
    },
    /// Delay the next `count` replies by `delay_ns` more.
    DelayReplies {
        /// How many.
        count: u64,
        /// Extra delay.
        delay_ns: i64,
    },
    /// The link goes dead: no reply to anything any more.
    Disconnect,
    /// The link comes back.
    Reconnect,
    /// A limit switch at `position` (one shot): the axis stops there and latches the error.
    LimitAt {
        /// Axis.
        axis: Axis,
        /// Position (pulse counter at power-up frame).
        position: i64,
    },
    /// The motor stops moving; the controller still counts pulses.
    Stall {
        /// Axis.
        axis: Axis,
    },
    /// The stalled motor follows the pulses again (keeping the lost pulses as an offset).
    Unstall {
        /// Axis.
        axis: Axis,
    },
    /// A digital input level (1..8); a rising edge triggers the position latch wired to it.
    DigitalInput {
        /// Input number 1..8.
        input: u8,
        /// Level.
        on: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Motion {
    Idle,
    Move { target: f64 },
    Jog,
    Other,
}

#[derive(Debug, Clone, Copy, Default)]
struct Latch {
    armed: bool,
    triggered: bool,
    pulse: i64,
    encoder: i64,
}

#[derive(Debug, Clone, Copy)]
struct Sync {
    on: bool,
    position: i64,
    condition: i64,
    width_ms: i64,
    armed_ns: i64,
}

#[derive(Debug, Clone)]
struct AxisSim {
    params: [i64; 4],
    ramp: Ramp,
    motion: Motion,
    group: Option<u64>,
    motion_end_ns: i64,
    truth: AxisTruth,
    latched: AxisStatus,
    pending_latch: Option<(i64, AxisStatus)>,
    phantom_limits: Vec<i64>,
    sspd_window: u8,
    latch: Latch,
    sync: Sync,
}

#[derive(Debug, Clone, Default)]
struct ReplyFaults {
    drop_next: u64,
    garble_next: u64,
    delay_next: u64,
    delay_next_ns: i64,
    dead: bool,
}

/// What became of one received frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameOutcome {
    /// Reply bytes (framed), complete on the wire at `ready_ns`.
    Reply {
        /// Framed reply.
        bytes: Vec<u8>,
        /// `mono_ns` when the last byte has arrived at the host.
        ready_ns: i64,
    },
    /// No reply (another device number, or a dropped reply).
    Silent,
    /// The link is dead (disconnect fault).
    Dead,
}

/// The simulated controller.
#[derive(Debug, Clone)]
pub struct ArcusSim {
    cfg: SimConfig,
    device_name: String,
    baud_code_setting: u8,
    mode: MoveMode,
    global: [i64; 4],
    edec: bool,
    ierr: bool,
    enable: u8,
    outputs: u8,
    inputs: u8,
    toc_ms: i64,
    last_comm_ns: Option<i64>,
    toc_expired: bool,
    axes: [AxisSim; 4],
    next_group: u64,
    t_last: i64,
    t_start: i64,
    replies: u64,
    faults: ReplyFaults,
    stalls_pending: Vec<(Axis, i64)>,
    version: u64,
    // The recent motion log, published lock-free after each change (readers on the RT thread).
    publisher: TruthPublisher,
}

fn param_index(p: SpeedParam) -> usize {
    match p {
        SpeedParam::HighSpeed => 0,
        SpeedParam::LowSpeed => 1,
        SpeedParam::Accel => 2,
        SpeedParam::Decel => 3,
    }
}

/// The pulse counter for a commanded position: pulses emitted so far, i.e. rounded toward where
/// the motion came from.
fn whole_pulses(x: f64, v: f64) -> i64 {
    let r = if v > 0.0 {
        (x + 1e-6).floor()
    } else if v < 0.0 {
        (x - 1e-6).ceil()
    } else {
        x.round()
    };
    r as i64
}

/// The count a 4× quadrature decoder shows at `x` counts of travel: it changes on each edge, so
/// it is the last whole count passed (an encoder never reads a count it has not reached).
fn quadrature_count(x: f64) -> i64 {
    // A hair of tolerance so that exact multiples (a move ending on a count) read that count.
    (x + 1e-6).floor() as i64
}

fn unknown(cmd: &Command) -> Reply {
    Reply::Error(ControllerError::UnknownCommand(cmd.encode()))
}

impl ArcusSim {
    /// A controller at power-up at `t0_ns`: ABS mode, all axes at 0, no switch active.
    pub fn new(cfg: SimConfig, t0_ns: i64) -> ArcusSim {
        let global = [1000, 100, 300, 300];
        let ramp = Ramp::from_settings(global[0], global[1], global[2], global[3], false);
        let axis = AxisSim {
            params: [0; 4],
            ramp,
            motion: Motion::Idle,
            group: None,
            motion_end_ns: t0_ns,
            truth: AxisTruth::new(t0_ns),
            latched: AxisStatus::empty(),
            pending_latch: None,
            phantom_limits: Vec::new(),
            sspd_window: 0,
            latch: Latch::default(),
            sync: Sync { on: false, position: 0, condition: 1, width_ms: 0, armed_ns: t0_ns },
        };
        let mut axes = [axis.clone(), axis.clone(), axis.clone(), axis];
        for (a, p) in &cfg.faults.limit_hits {
            axes[a.index()].phantom_limits.push(*p);
        }
        let stalls_pending = cfg.faults.stalls_after_ns.iter().map(|(a, dt)| (*a, t0_ns + dt)).collect();
        ArcusSim {
            device_name: format!("4EX{:02}", cfg.device),
            baud_code_setting: cfg.baud_code(),
            cfg,
            mode: MoveMode::Absolute,
            global,
            edec: false,
            ierr: false,
            enable: 0,
            outputs: 0,
            inputs: 0,
            toc_ms: 0,
            last_comm_ns: None,
            toc_expired: false,
            axes,
            next_group: 1,
            t_last: t0_ns,
            t_start: t0_ns,
            replies: 0,
            faults: ReplyFaults::default(),
            stalls_pending,
            version: 0,
            publisher: TruthPublisher::new(),
        }
        .published()
    }

    /// Publishes the motion log if it changed since the last publication.
    fn publish(&mut self) {
        let [x, y, z, u] = &self.axes;
        self.publisher.publish_if_changed([&x.truth, &y.truth, &z.truth, &u.truth], self.version, self.t_last);
    }

    fn published(mut self) -> Self {
        self.publish();
        self
    }

    /// The ground truth as published for lock-free readers: exact from [`HORIZON_NS`] before the
    /// last command on (what a probe reads at the present instant), see [`PublishedTruth`].
    pub fn published_truth(&self) -> std::sync::Arc<PublishedTruth> {
        self.publisher.shared()
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The device number frames must carry (fixed at power-up).
    pub fn device_number(&self) -> u8 {
        self.cfg.device
    }

    /// The line's baud rate (fixed at power-up).
    pub fn baud(&self) -> u32 {
        self.cfg.baud
    }

    // ---- time and truth ------------------------------------------------------------------

    fn clamp_time(&mut self, t_ns: i64) -> i64 {
        let t = t_ns.max(self.t_last);
        self.t_last = t;
        t
    }

    /// Applies what happened up to `t`: stalls that started, latched errors of plans whose
    /// limit was reached, ends of motion.
    fn settle(&mut self, t: i64) {
        let due: Vec<(Axis, i64)> = self.stalls_pending.iter().filter(|(_, ts)| *ts <= t).copied().collect();
        self.stalls_pending.retain(|(_, ts)| *ts > t);
        for (a, ts) in due {
            self.axes[a.index()].truth.stall(ts);
            self.version += 1;
        }
        for ax in &mut self.axes {
            if let Some((tl, bits)) = ax.pending_latch {
                if tl <= t {
                    ax.latched |= bits;
                    ax.pending_latch = None;
                }
            }
            if ax.motion_end_ns <= t {
                ax.motion = Motion::Idle;
                ax.group = None;
            }
        }
    }

    /// Exact position of `axis` at `t_ns` in pulse-counter units: where the motor really is
    /// (stalls included), in the counter's frame at that instant (homing and `P=` shift it).
    pub fn true_position_steps(&self, axis: Axis, t_ns: i64) -> f64 {
        self.axes[axis.index()].truth.true_position(t_ns)
    }

    /// First instant ≥ `after_ns` at which `axis` truly reaches `position_steps` (counter frame as
    /// of `after_ns`), if it does on the current plan: where a compare on that position fires.
    pub fn true_crossing_ns(&self, axis: Axis, position_steps: f64, after_ns: i64) -> Option<i64> {
        let tr = &self.axes[axis.index()].truth;
        tr.first_crossing(position_steps + tr.offset(after_ns), after_ns)
    }

    /// When the SYN output of `axis` was last armed (`SYN[axis]O`), None while it is off.
    pub fn sync_armed_ns(&self, axis: Axis) -> Option<i64> {
        let s = self.axes[axis.index()].sync;
        s.on.then_some(s.armed_ns)
    }

    /// A copy of the motion log (pieces, counter offsets, stalls) of every axis.
    pub fn truth_log(&self) -> TruthLog {
        TruthLog { axes: self.axes.iter().map(|a| a.truth.clone()).collect(), t_start_ns: self.t_start }
    }

    /// Whether `axis` outputs pulses at `t_ns`.
    pub fn is_pulsing(&self, axis: Axis, t_ns: i64) -> bool {
        t_ns < self.axes[axis.index()].motion_end_ns
    }

    /// The pulse counter at `t_ns`.
    pub fn pulse_position(&self, axis: Axis, t_ns: i64) -> i64 {
        let tr = &self.axes[axis.index()].truth;
        whole_pulses(tr.commanded(t_ns) - tr.offset(t_ns), tr.velocity(t_ns))
    }

    fn encoder(&self, axis: Axis, t: i64) -> i64 {
        let tr = &self.axes[axis.index()].truth;
        quadrature_count(self.cfg.encoder_counts_per_step(axis) * tr.physical(t) - tr.encoder_offset(t))
    }

    fn pulse_rate(&self, axis: Axis, t: i64) -> i64 {
        if self.is_pulsing(axis, t) {
            self.axes[axis.index()].truth.velocity(t).abs().round() as i64
        } else {
            0
        }
    }

    fn inputs_at(&self, axis: Axis, t: i64) -> AxisStatus {
        let sw = self.cfg.switches[axis.index()];
        let x = self.axes[axis.index()].truth.physical(t);
        let mut s = AxisStatus::empty();
        if sw.plus_limit.is_some_and(|l| x >= l as f64 - 1e-6) {
            s |= AxisStatus::PLUS_LIMIT_INPUT;
        }
        if sw.minus_limit.is_some_and(|l| x <= l as f64 + 1e-6) {
            s |= AxisStatus::MINUS_LIMIT_INPUT;
        }
        if sw.home.is_some_and(|h| (x - h as f64).abs() < 0.5) {
            s |= AxisStatus::HOME_INPUT;
        }
        s
    }

    fn toc_bit(&self, t: i64) -> bool {
        self.toc_expired || (self.toc_ms > 0 && self.last_comm_ns.is_some_and(|l| t - l > self.toc_ms * 1_000_000))
    }

    /// The status word of `axis` at `t_ns`.
    pub fn axis_status(&self, axis: Axis, t_ns: i64) -> AxisStatus {
        let ax = &self.axes[axis.index()];
        let mut s = self.inputs_at(axis, t_ns) | ax.latched;
        if let Some((tl, bits)) = ax.pending_latch {
            if tl <= t_ns {
                s |= bits;
            }
        }
        if self.is_pulsing(axis, t_ns) {
            s |= match ax.truth.phase(t_ns) {
                Phase::Accel => AxisStatus::ACCEL,
                Phase::Decel => AxisStatus::DECEL,
                Phase::Constant | Phase::Rest => AxisStatus::CONSTANT,
            };
        }
        if self.toc_bit(t_ns) {
            s |= AxisStatus::TOC_TIMEOUT;
        }
        s
    }

    /// The 9 fields of `MST` at `t_ns`.
    pub fn motor_status(&self, t_ns: i64) -> MotorStatus {
        MotorStatus {
            axes: Axis::ALL.map(|a| self.axis_status(a, t_ns)),
            buffer_enabled: false,
            buffer_start: 0,
            buffer_end: 0,
            buffer_free: 36,
            mode: self.mode,
        }
    }

    // ---- faults --------------------------------------------------------------------------

    /// Injects a fault at `t_ns`.
    pub fn inject(&mut self, fault: Fault, t_ns: i64) {
        self.inject_at(fault, t_ns);
        self.publish();
    }

    fn inject_at(&mut self, fault: Fault, t_ns: i64) {
        let t = self.clamp_time(t_ns);
        self.settle(t);
        self.version += 1;
        match fault {
            Fault::DropReplies { count } => self.faults.drop_next += count,
            Fault::GarbleReplies { count } => self.faults.garble_next += count,
            Fault::DelayReplies { count, delay_ns } => {
                self.faults.delay_next += count;
                self.faults.delay_next_ns = delay_ns.max(0);
            }
            Fault::Disconnect => self.faults.dead = true,
            Fault::Reconnect => self.faults.dead = false,
            Fault::LimitAt { axis, position } => {
                self.axes[axis.index()].phantom_limits.push(position);
                // A move already under way meets it too: re-plan its remainder.
                if self.is_pulsing(axis, t) {
                    self.replan_remainder(axis, t);
                }
            }
            Fault::Stall { axis } => self.axes[axis.index()].truth.stall(t),
            Fault::Unstall { axis } => self.axes[axis.index()].truth.unstall(t),
            Fault::DigitalInput { input, on } => {
                if (1..=8).contains(&input) {
                    let bit = 1u8 << (input - 1);
                    let rising = on && self.inputs & bit == 0;
                    if on {
                        self.inputs |= bit;
                    } else {
                        self.inputs &= !bit;
                    }
                    if rising {
                        self.trigger_latches(input, t);
                    }
                }
            }
        }
    }

    /// A counter that changes whenever the motion log may have changed (to rewrite it lazily).
    pub fn log_version(&self) -> u64 {
        self.version
    }

    /// Whether the link is dead (disconnect fault).
    pub fn is_disconnected(&self) -> bool {
        self.faults.dead
    }

    fn trigger_latches(&mut self, input: u8, t: i64) {
        for a in Axis::ALL {
            let wired = match a {
                Axis::X => 4,
                Axis::Y => 6,
                Axis::Z => 5,
                Axis::U => 8,
            };
            if wired == input && self.axes[a.index()].latch.armed && !self.axes[a.index()].latch.triggered {
                let pulse = self.pulse_position(a, t);
                let encoder = self.encoder(a, t);
                let l = &mut self.axes[a.index()].latch;
                l.triggered = true;
                l.pulse = pulse;
                l.encoder = encoder;
            }
        }
    }
}

mod commands;
mod motion;

#[cfg(test)]
mod tests;
