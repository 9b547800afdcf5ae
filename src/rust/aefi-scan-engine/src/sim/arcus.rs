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
//! Simulator choices where the controller's behaviour is unknown ([U] in the notes) are listed in
//! [`UNVERIFIED_CHOICES`] and printed by `aefi-arcus-sim --help`.
use crate::arcus::framing::{wire_time_ns, Framing};
use crate::arcus::protocol::{
    Axis, AxisStatus, Command, ControllerError, MotorStatus, MoveMode, Reply, SpeedParam, SyncRegister,
};

mod config;
mod profile;
mod truth;

pub use config::{AxisSwitches, FaultConfig, SimConfig, BAUD_CODES, DEFAULT_TURNAROUND_NS};
pub use profile::{max_accel_ms, plan_duration_ns, plan_move, Phase, Piece, Ramp, FOREVER_NS};
pub use truth::{AxisTruth, TruthLog};

use profile::{finish_pulse, map_plan, plan_jog, plan_stop};

/// Firmware version string answered to `VER` (exact real string unknown, notes §4).
pub const FIRMWARE_VERSION: &str = "V180BL";

/// Every simulator choice for a behaviour the notes mark [U] (or [I]), for `--help`.
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
    ("encoder", "follows the true motor position at --encoder-ratio counts per pulse (default 1; 0 = not wired, stays 0)"),
    ("SYN condition", "1 = encoder equals P (Table 6.8), 2 = below, 3 = above; compared with the simulated encoder"),
    ("LT trigger", "a rising edge of the simulated DI (X=DI4, Y=DI6, Z=DI5, U=DI8) set through the bench API"),
    ("digital/analog inputs", "DI reads 0 unless set through the bench API; AI1..8 read 0 mV"),
    ("CLR without axis", "clears every axis"),
    ("stall fault", "the motor stops while pulses are still counted; limits are evaluated on the commanded motion"),
];

const MAX_SPEED: i64 = 6_000_000;

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
        }
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
        (self.cfg.encoder_ratio * tr.physical(t) - tr.encoder_offset(t)).round() as i64
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
        let t = self.clamp_time(t_ns);
        self.settle(t);
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

    // ---- frames --------------------------------------------------------------------------

    /// Handles one frame addressed to this controller, fully arrived at `t_arrived_ns`.
    ///
    /// `wire` adds the turnaround and the reply's own wire time to the ready instant (the
    /// command's inbound time is the caller's: it is in `t_arrived_ns`).
    pub fn handle_command(&mut self, text: &str, t_arrived_ns: i64, framing: Framing, wire: bool) -> FrameOutcome {
        if self.faults.dead {
            return FrameOutcome::Dead;
        }
        let t = self.clamp_time(t_arrived_ns);
        self.settle(t);
        // Communication watchdog: silence longer than TOC before this frame sets bit 11.
        if self.toc_bit(t) {
            self.toc_expired = true;
        }
        self.last_comm_ns = Some(t);
        let reply = match Command::parse(text) {
            Ok(cmd) => self.execute(&cmd, t),
            Err(_) => Reply::Error(ControllerError::UnknownCommand(text.to_string())),
        };
        let mut reply_text = reply.encode();
        self.replies += 1;
        let f = &self.cfg.faults;
        let n = self.replies;
        if let Some(limit) = f.disconnect_after {
            if n > limit {
                self.faults.dead = true;
                return FrameOutcome::Dead;
            }
        }
        if self.faults.drop_next > 0 {
            self.faults.drop_next -= 1;
            return FrameOutcome::Silent;
        }
        if f.drop_every > 0 && n % f.drop_every == 0 {
            return FrameOutcome::Silent;
        }
        let garble = if self.faults.garble_next > 0 {
            self.faults.garble_next -= 1;
            true
        } else {
            f.garble_every > 0 && n % f.garble_every == 0
        };
        if garble {
            // Line noise: every character's high bit flipped, framing kept.
            reply_text = reply_text.bytes().map(|b| char::from(b ^ 0x80)).collect();
        }
        let mut extra = self.cfg.faults.extra_delay_ns;
        if self.faults.delay_next > 0 {
            self.faults.delay_next -= 1;
            extra += self.faults.delay_next_ns;
        }
        let bytes = if garble {
            let mut b: Vec<u8> = reply.encode().bytes().map(|b| b ^ 0x80).collect();
            b.extend_from_slice(&framing.encode_reply("")[..]);
            b
        } else {
            framing.encode_reply(&reply_text)
        };
        let ready_ns = t + extra + if wire { self.reply_ready_ns(bytes.len()) } else { 0 };
        FrameOutcome::Reply { bytes, ready_ns }
    }

    /// Turnaround plus the wire time of `reply_bytes` at the line's baud (ns).
    pub fn reply_ready_ns(&self, reply_bytes: usize) -> i64 {
        self.cfg.turnaround_ns + wire_time_ns(reply_bytes, self.cfg.baud)
    }

    /// Executes a parsed command at `t_ns` (already settled) and gives the reply.
    pub fn execute(&mut self, cmd: &Command, t: i64) -> Reply {
        use Command::*;
        match cmd {
            Move(pairs) => self.cmd_move(pairs, t),
            Jog { axis, positive } => self.cmd_jog(*axis, *positive, t),
            Stop(a) => {
                for axis in a.map_or(Axis::ALL.to_vec(), |a| vec![a]) {
                    self.stop_axis(axis, t);
                }
                Reply::Ok
            }
            Abort(a) => {
                for axis in a.map_or(Axis::ALL.to_vec(), |a| vec![a]) {
                    self.abort_axis(axis, t);
                }
                Reply::Ok
            }
            Home { axis, positive, mode } => self.cmd_home(cmd, *axis, *positive, *mode, t),
            TargetChange { axis, target } => self.cmd_target(*axis, *target, t),
            GetPosition(a) => Reply::Int(self.pulse_position(*a, t)),
            SetPosition(a, n) => {
                if self.is_pulsing(*a, t) {
                    return Reply::Error(ControllerError::Pulsing);
                }
                let tr = &mut self.axes[a.index()].truth;
                let off = tr.commanded(t) - *n as f64;
                tr.set_offset(t, off);
                Reply::Ok
            }
            GetPositions => Reply::List(Axis::ALL.iter().map(|a| self.pulse_position(*a, t)).collect()),
            GetEncoder(a) => Reply::Int(self.encoder(*a, t)),
            SetEncoder(a, n) => {
                let ratio = self.cfg.encoder_ratio;
                let tr = &mut self.axes[a.index()].truth;
                let off = ratio * tr.physical(t) - *n as f64;
                tr.set_encoder_offset(t, off);
                Reply::Ok
            }
            GetEncoders => Reply::List(Axis::ALL.iter().map(|a| self.encoder(*a, t)).collect()),
            GetSpeeds => Reply::List(Axis::ALL.iter().map(|a| self.pulse_rate(*a, t)).collect()),
            GetStatus => Reply::List(
                self.motor_status(t).encode().split(':').filter_map(|f| f.parse().ok()).collect(),
            ),
            GetParam(p, a) => Reply::Int(match a {
                None => self.global[param_index(*p)],
                Some(a) => self.axes[a.index()].params[param_index(*p)],
            }),
            SetParam(p, a, v) => {
                let ok = match p {
                    SpeedParam::HighSpeed | SpeedParam::LowSpeed => {
                        (1..=MAX_SPEED).contains(v) || (a.is_some() && *v == 0)
                    }
                    SpeedParam::Accel | SpeedParam::Decel => (0..=1_000_000).contains(v),
                };
                if !ok {
                    return unknown(cmd);
                }
                match a {
                    None => self.global[param_index(*p)] = *v,
                    Some(a) => self.axes[a.index()].params[param_index(*p)] = *v,
                }
                Reply::Ok
            }
            GetEdec => Reply::Int(i64::from(self.edec)),
            SetEdec(b) => {
                self.edec = *b;
                Reply::Ok
            }
            GetEnable => Reply::Int(i64::from(self.enable)),
            SetEnable(v) => {
                self.enable = *v;
                Reply::Ok
            }
            GetEnableBit(n) => Reply::Int(i64::from((self.enable >> (n - 1)) & 1)),
            SetEnableBit(n, b) => {
                let bit = 1u8 << (n - 1);
                self.enable = if *b { self.enable | bit } else { self.enable & !bit };
                Reply::Ok
            }
            Absolute => {
                self.mode = MoveMode::Absolute;
                Reply::Ok
            }
            Incremental => {
                self.mode = MoveMode::Incremental;
                Reply::Ok
            }
            Clear(a) => {
                for axis in a.map_or(Axis::ALL.to_vec(), |a| vec![a]) {
                    let ax = &mut self.axes[axis.index()];
                    ax.latched = AxisStatus::empty();
                    // An error still ahead in a running plan is cleared as well.
                    if let Some((tl, _)) = ax.pending_latch {
                        if tl <= t {
                            ax.pending_latch = None;
                        }
                    }
                }
                self.toc_expired = false;
                Reply::Ok
            }
            GetIerr => Reply::Int(i64::from(self.ierr)),
            SetIerr(b) => {
                self.ierr = *b;
                Reply::Ok
            }
            GetDeviceName => Reply::Text(self.device_name.clone()),
            SetDeviceName(name) => {
                if !(name.len() == 5 && name.starts_with("4EX") && name[3..].bytes().all(|b| b.is_ascii_digit())) {
                    return unknown(cmd);
                }
                self.device_name = name.clone();
                Reply::Ok
            }
            GetBaudCode => Reply::Int(i64::from(self.baud_code_setting)),
            SetBaudCode(c) => {
                self.baud_code_setting = *c;
                Reply::Ok
            }
            Version => Reply::Text(FIRMWARE_VERSION.into()),
            GetInputs => Reply::Int(i64::from(self.inputs)),
            GetInput(n) => Reply::Int(i64::from((self.inputs >> (n - 1)) & 1)),
            GetOutputs => Reply::Int(i64::from(self.outputs_at(t))),
            SetOutputs(v) => {
                self.outputs = *v;
                Reply::Ok
            }
            GetOutput(n) => Reply::Int(i64::from((self.outputs_at(t) >> (n - 1)) & 1)),
            SetOutput(n, b) => {
                let bit = 1u8 << (n - 1);
                self.outputs = if *b { self.outputs | bit } else { self.outputs & !bit };
                Reply::Ok
            }
            GetAnalogInput(_) => Reply::Int(0),
            SetSpeedWindow(a, w) => {
                if self.is_pulsing(*a, t) {
                    return Reply::Error(ControllerError::Pulsing);
                }
                self.axes[a.index()].sspd_window = *w;
                Reply::Ok
            }
            SpeedChange(a, v) => self.cmd_speed_change(cmd, *a, *v, t),
            GetToc => Reply::Int(self.toc_ms),
            SetToc(ms) => {
                self.toc_ms = *ms;
                self.toc_expired = false;
                Reply::Ok
            }
            SetLatch(a, on) => {
                let l = &mut self.axes[a.index()].latch;
                *l = Latch { armed: *on, ..Latch::default() };
                Reply::Ok
            }
            GetLatchStatus(a) => {
                let l = self.axes[a.index()].latch;
                Reply::Int(if l.triggered { 2 } else { i64::from(l.armed) })
            }
            GetLatchPosition(a) => Reply::Int(self.axes[a.index()].latch.pulse),
            GetLatchEncoder(a) => Reply::Int(self.axes[a.index()].latch.encoder),
            SetSync(a, on) => {
                let s = &mut self.axes[a.index()].sync;
                s.on = *on;
                s.armed_ns = t;
                Reply::Ok
            }
            GetSyncRegister(a, r) => {
                let s = self.axes[a.index()].sync;
                Reply::Int(match r {
                    SyncRegister::Position => s.position,
                    SyncRegister::Condition => s.condition,
                    SyncRegister::Width => s.width_ms,
                })
            }
            SetSyncRegister(a, r, v) => {
                let ok = match r {
                    SyncRegister::Position => true,
                    SyncRegister::Condition => (1..=3).contains(v),
                    SyncRegister::Width => (0..=10).contains(v),
                };
                if !ok {
                    return unknown(cmd);
                }
                let s = &mut self.axes[a.index()].sync;
                match r {
                    SyncRegister::Position => s.position = *v,
                    SyncRegister::Condition => s.condition = *v,
                    SyncRegister::Width => s.width_ms = *v,
                }
                s.armed_ns = t;
                Reply::Ok
            }
            GetSyncStatus(a) => {
                let s = self.axes[a.index()].sync;
                Reply::Int(if !s.on {
                    0
                } else if self.sync_event_ns(*a).is_some_and(|te| te <= t) {
                    2
                } else {
                    1
                })
            }
            Store => Reply::Ok,
        }
    }

    // ---- sync output ---------------------------------------------------------------------

    /// When the sync condition of `axis` first held after it was armed (encoder compare), if
    /// it has or will on the current plan.
    pub fn sync_event_ns(&self, axis: Axis) -> Option<i64> {
        let ax = &self.axes[axis.index()];
        let s = ax.sync;
        if !s.on {
            return None;
        }
        let ratio = self.cfg.encoder_ratio;
        let holds = |t: i64| {
            let e = self.encoder(axis, t);
            match s.condition {
                2 => e < s.position,
                3 => e > s.position,
                _ => e == s.position,
            }
        };
        if holds(s.armed_ns) {
            return Some(s.armed_ns);
        }
        if ratio == 0.0 {
            return None;
        }
        // Physical position where the encoder reaches P, then the first crossing after arming.
        let tr = &ax.truth;
        let x = (s.position as f64 + tr.encoder_offset(s.armed_ns)) / ratio;
        tr.first_crossing(x, s.armed_ns)
    }

    fn outputs_at(&self, t: i64) -> u8 {
        let mut out = self.outputs;
        for a in Axis::ALL {
            let s = self.axes[a.index()].sync;
            if !s.on {
                continue;
            }
            let bit = 1u8 << a.index();
            let on = match s.condition {
                1 => self.sync_event_ns(a).is_some_and(|te| {
                    let width = s.width_ms.max(0) * 1_000_000;
                    te <= t && (t < te + width || self.encoder(a, t) == s.position)
                }),
                2 => self.encoder(a, t) < s.position,
                _ => self.encoder(a, t) > s.position,
            };
            out = if on { out | bit } else { out & !bit };
        }
        out
    }

    // ---- motion commands -----------------------------------------------------------------

    fn axis_ramp(&self, a: Axis) -> Ramp {
        let p = self.axes[a.index()].params;
        let eff = |i: usize| if p[i] != 0 { p[i] } else { self.global[i] };
        Ramp::from_settings(eff(0), eff(1), eff(2), eff(3), self.edec)
    }

    fn global_ramp(&self) -> Ramp {
        Ramp::from_settings(self.global[0], self.global[1], self.global[2], self.global[3], self.edec)
    }

    /// Refusal of a motion command on `a` heading `dir` (+1/−1, 0 = unknown yet).
    fn refuse_motion(&self, a: Axis, dir: f64, t: i64) -> Option<ControllerError> {
        if self.is_pulsing(a, t) {
            return Some(ControllerError::Pulsing);
        }
        let st = self.axis_status(a, t);
        if st.intersects(AxisStatus::PLUS_LIMIT_ERROR | AxisStatus::MINUS_LIMIT_ERROR) {
            return Some(ControllerError::Limit);
        }
        if st.contains(AxisStatus::ALARM_ERROR) {
            return Some(ControllerError::Alarm);
        }
        if (dir > 0.0 && st.contains(AxisStatus::PLUS_LIMIT_INPUT)) || (dir < 0.0 && st.contains(AxisStatus::MINUS_LIMIT_INPUT))
        {
            return Some(ControllerError::Limit);
        }
        None
    }

    fn cmd_move(&mut self, pairs: &[(Axis, i64)], t: i64) -> Reply {
        let mut members = Vec::new();
        for (a, n) in pairs {
            let tr = &self.axes[a.index()].truth;
            let here = tr.commanded(t);
            let target = match self.mode {
                MoveMode::Absolute => *n as f64 + tr.offset(t),
                MoveMode::Incremental => here.round() + *n as f64,
            };
            let dist = target - here;
            if let Some(e) = self.refuse_motion(*a, dist.signum(), t) {
                return Reply::Error(e);
            }
            members.push((*a, here, target, dist));
        }
        let moving: Vec<_> = members.into_iter().filter(|m| m.3.abs() > 1e-9).collect();
        if moving.is_empty() {
            return Reply::Ok;
        }
        if moving.len() == 1 {
            let (a, here, target, dist) = moving[0];
            let ramp = self.axis_ramp(a);
            let plan = map_plan(&plan_move(t, dist.abs(), 0.0, &ramp), here, dist.signum(), 1.0);
            self.start(vec![(a, plan, ramp)], t, Motion::Move { target }, true);
            return Reply::Ok;
        }
        let ramp = self.global_ramp();
        let longest = moving.iter().map(|m| m.3.abs()).fold(0.0, f64::max);
        let base = plan_move(t, longest, 0.0, &ramp);
        let plans = moving
            .iter()
            .map(|(a, here, _, dist)| {
                let k = dist.abs() / longest;
                (*a, map_plan(&base, *here, dist.signum(), k), ramp.scaled(k))
            })
            .collect();
        self.start(plans, t, Motion::Other, true);
        Reply::Ok
    }

    fn cmd_jog(&mut self, a: Axis, positive: bool, t: i64) -> Reply {
        let dir = if positive { 1.0 } else { -1.0 };
        if let Some(e) = self.refuse_motion(a, dir, t) {
            return Reply::Error(e);
        }
        let ramp = self.axis_ramp(a);
        let here = self.axes[a.index()].truth.commanded(t);
        let plan = map_plan(&plan_jog(t, 0.0, &ramp), here, dir, 1.0);
        self.start(vec![(a, plan, ramp)], t, Motion::Jog, true);
        Reply::Ok
    }

    fn stop_axis(&mut self, a: Axis, t: i64) {
        if !self.is_pulsing(a, t) {
            return;
        }
        let members = self.group_members(a, t);
        let plans = members
            .into_iter()
            .map(|m| {
                let ax = &self.axes[m.index()];
                let (x, v) = (ax.truth.commanded(t), ax.truth.velocity(t));
                let ramp = ax.ramp;
                let mut plan = plan_stop(t, v.abs(), &ramp);
                finish_pulse(&mut plan, t, x, v.signum(), 1.0, ramp.ls);
                (m, map_plan(&plan, x, v.signum(), 1.0), ramp)
            })
            .collect();
        self.start(plans, t, Motion::Other, true);
    }

    fn abort_axis(&mut self, a: Axis, t: i64) {
        if !self.is_pulsing(a, t) {
            return;
        }
        for m in self.group_members(a, t) {
            let ramp = self.axes[m.index()].ramp;
            self.start(vec![(m, Vec::new(), ramp)], t, Motion::Idle, false);
        }
    }

    fn group_members(&self, a: Axis, t: i64) -> Vec<Axis> {
        match self.axes[a.index()].group {
            Some(g) => Axis::ALL
                .into_iter()
                .filter(|m| self.axes[m.index()].group == Some(g) && self.is_pulsing(*m, t))
                .collect(),
            None => vec![a],
        }
    }

    fn cmd_home(&mut self, cmd: &Command, a: Axis, positive: bool, mode: u8, t: i64) -> Reply {
        if mode == 2 || mode == 3 {
            return unknown(cmd);
        }
        let dir = if positive { 1.0 } else { -1.0 };
        if let Some(e) = self.refuse_motion(a, dir, t) {
            return Reply::Error(e);
        }
        let ramp = self.axis_ramp(a);
        let sw = self.cfg.switches[a.index()];
        let tr = &self.axes[a.index()].truth;
        let here = tr.commanded(t);
        let lag = here - tr.physical(t);
        let jog = map_plan(&plan_jog(t, 0.0, &ramp), here, dir, 1.0);
        match mode {
            1 => {
                let limit = if positive { sw.plus_limit } else { sw.minus_limit };
                let Some(l) = limit else {
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                let l_cmd = l as f64 + lag;
                let Some((t_hit, mut plan)) = cut_at_crossing(&jog, l_cmd) else {
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                // Back off at LS until the switch releases (one pulse), stop, zero there.
                let dur = (1.0 / ramp.ls * 1e9).round() as i64;
                plan.push(Piece { t0_ns: t_hit, dur_ns: dur, x0: l_cmd, v0: -dir * ramp.ls, a: 0.0, phase: Phase::Constant });
                let t_end = t_hit + dur;
                let zero_at = l_cmd - dir;
                self.start(vec![(a, plan, ramp)], t, Motion::Other, false);
                self.axes[a.index()].truth.set_offset(t_end, zero_at);
            }
            _ => {
                let Some(h) = sw.home else {
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                let h_cmd = h as f64 + lag;
                if (here - h_cmd).abs() < 0.5 {
                    self.axes[a.index()].truth.set_offset(t, h_cmd);
                    if mode == 4 {
                        let ratio = self.cfg.encoder_ratio;
                        let phys = self.axes[a.index()].truth.physical(t);
                        self.axes[a.index()].truth.set_encoder_offset(t, ratio * phys);
                    }
                    return Reply::Ok;
                }
                let Some((t_h, mut plan)) = cut_at_crossing(&jog, h_cmd) else {
                    // Home switch behind us: run on until a limit or STOP.
                    self.start(vec![(a, jog, ramp)], t, Motion::Other, true);
                    return Reply::Ok;
                };
                let v = plan.last().map_or(ramp.ls, |p| p.end_vel().abs());
                let mut stop = plan_stop(t_h, v, &ramp);
                finish_pulse(&mut stop, t_h, h_cmd, dir, 1.0, ramp.ls);
                let stop = map_plan(&stop, h_cmd, dir, 1.0);
                let (t_s, x_s) = stop.last().map_or((t_h, h_cmd), |p| (p.end_ns(), p.end_pos()));
                plan.extend(stop);
                let mut zero = (t_h, h_cmd);
                if mode == 4 {
                    // Back at LS to the home point, stop, zero position and encoder there.
                    let back = (x_s - h_cmd).abs();
                    let dur = (back / ramp.ls * 1e9).round() as i64;
                    if dur > 0 {
                        plan.push(Piece { t0_ns: t_s, dur_ns: dur, x0: x_s, v0: -dir * ramp.ls, a: 0.0, phase: Phase::Constant });
                    }
                    zero = (t_s + dur, h_cmd);
                }
                self.start(vec![(a, plan, ramp)], t, Motion::Other, true);
                if zero.0 <= self.axes[a.index()].motion_end_ns {
                    self.axes[a.index()].truth.set_offset(zero.0, zero.1);
                    if mode == 4 {
                        let ratio = self.cfg.encoder_ratio;
                        self.axes[a.index()].truth.set_encoder_offset(zero.0, ratio * (h as f64));
                    }
                }
            }
        }
        Reply::Ok
    }

    /// Re-plans `a` from (x, v) at `t` to reach `target` (commanded frame).
    fn plan_to(&self, a: Axis, target: f64, ramp: &Ramp, t: i64) -> Vec<Piece> {
        let tr = &self.axes[a.index()].truth;
        let (x, v) = (tr.commanded(t), tr.velocity(t));
        let dir = v.signum();
        let ahead = (target - x) * dir;
        if ahead >= ramp.stop_distance(v.abs()) {
            return map_plan(&plan_move(t, ahead, v.abs(), ramp), x, dir, 1.0);
        }
        let mut stop = plan_stop(t, v.abs(), ramp);
        finish_pulse(&mut stop, t, x, dir, 1.0, ramp.ls);
        let mut plan = map_plan(&stop, x, dir, 1.0);
        let (t_s, x_s) = plan.last().map_or((t, x), |p| (p.end_ns(), p.end_pos()));
        let back = target - x_s;
        plan.extend(map_plan(&plan_move(t_s, back.abs(), 0.0, ramp), x_s, back.signum(), 1.0));
        plan
    }

    fn cmd_target(&mut self, a: Axis, n: i64, t: i64) -> Reply {
        let ax = &self.axes[a.index()];
        if !self.is_pulsing(a, t) || ax.group.is_some() || !matches!(ax.motion, Motion::Move { .. }) {
            return Reply::Ok;
        }
        let target = n as f64 + ax.truth.offset(t);
        let ramp = ax.ramp;
        let plan = self.plan_to(a, target, &ramp, t);
        self.start(vec![(a, plan, ramp)], t, Motion::Move { target }, true);
        Reply::Ok
    }

    fn cmd_speed_change(&mut self, cmd: &Command, a: Axis, v: i64, t: i64) -> Reply {
        let ax = &self.axes[a.index()];
        if ax.sspd_window == 0 {
            return Reply::Error(ControllerError::SspdError);
        }
        if !(1..=MAX_SPEED).contains(&v) {
            return unknown(cmd);
        }
        if !self.is_pulsing(a, t) || ax.group.is_some() {
            return Reply::Ok;
        }
        let mut ramp = ax.ramp;
        let rate = ramp.acc;
        ramp.hs = v as f64;
        ramp.ls = ramp.ls.min(ramp.hs);
        ramp.dec = rate;
        match ax.motion {
            Motion::Move { target } => {
                let plan = self.plan_to(a, target, &ramp, t);
                self.start(vec![(a, plan, ramp)], t, Motion::Move { target }, true);
            }
            Motion::Jog => {
                let tr = &ax.truth;
                let (x, vel) = (tr.commanded(t), tr.velocity(t));
                let plan = map_plan(&plan_jog(t, vel.abs(), &ramp), x, vel.signum(), 1.0);
                self.start(vec![(a, plan, ramp)], t, Motion::Jog, true);
            }
            _ => {}
        }
        Reply::Ok
    }

    /// Re-plans a running motion of `a` after a new one-shot limit appeared (fault injection).
    fn replan_remainder(&mut self, a: Axis, t: i64) {
        let ax = &self.axes[a.index()];
        let plan = ax.truth.plan_after(t);
        let ramp = ax.ramp;
        let motion = ax.motion;
        self.start(vec![(a, plan, ramp)], t, motion, true);
    }

    /// Installs plans (commanded frame) from `t` on: cuts every member's track at `t`, checks
    /// the limit switches along the way (a hit stops the whole group at once, latching the error
    /// unless IERR=1), and schedules the end of motion.
    fn start(&mut self, mut plans: Vec<(Axis, Vec<Piece>, Ramp)>, t: i64, motion: Motion, check_limits: bool) {
        let group = (plans.len() > 1).then(|| {
            self.next_group += 1;
            self.next_group
        });
        let mut hit: Option<(i64, Axis, f64, AxisStatus, Option<usize>)> = None;
        if check_limits {
            for (a, plan, _) in &plans {
                if let Some(h) = self.first_limit_hit(*a, plan) {
                    if hit.is_none_or(|cur| h.0 < cur.0) {
                        hit = Some((h.0, *a, h.1, h.2, h.3));
                    }
                }
            }
        }
        if let Some((t_hit, hit_axis, x_hit, bits, phantom)) = hit {
            for (a, plan, _) in &mut plans {
                let at = cut_plan(plan, t_hit);
                let x = if *a == hit_axis { x_hit } else { at.0 };
                let x = if *a == hit_axis { x } else { whole_pulses(x, at.1) as f64 };
                plan.push(Piece { t0_ns: t_hit, dur_ns: 0, x0: x, v0: 0.0, a: 0.0, phase: Phase::Rest });
            }
            let ax = &mut self.axes[hit_axis.index()];
            if let Some(i) = phantom {
                ax.phantom_limits.remove(i);
            }
            if !self.ierr {
                ax.pending_latch = Some((t_hit, bits));
            }
        }
        for (a, plan, ramp) in plans {
            let ax = &mut self.axes[a.index()];
            if hit.is_none_or(|h| h.1 != a) {
                // A new plan replaces whatever error a superseded plan would have latched later.
                if ax.pending_latch.is_some_and(|(tl, _)| tl > t) {
                    ax.pending_latch = None;
                }
            }
            let end = ax.truth.install(t, plan);
            ax.motion_end_ns = end;
            ax.ramp = ramp;
            ax.motion = if end > t { motion } else { Motion::Idle };
            ax.group = if end > t { group } else { None };
        }
    }

    /// The first limit (real or one-shot) the plan runs into: (time, position, error bit,
    /// index of the one-shot limit).
    fn first_limit_hit(&self, a: Axis, plan: &[Piece]) -> Option<(i64, f64, AxisStatus, Option<usize>)> {
        let ax = &self.axes[a.index()];
        let t0 = plan.first()?.t0_ns;
        if ax.truth.is_stalled(t0) {
            return None;
        }
        let lag = ax.truth.commanded(t0) - ax.truth.physical(t0);
        let sw = self.cfg.switches[a.index()];
        for p in plan {
            let v = p.v0 + p.a * (p.dur_ns.min(FOREVER_NS) as f64 / 2e9).min(1.0);
            let dir = if p.v0 != 0.0 { p.v0.signum() } else { v.signum() };
            if dir == 0.0 {
                continue;
            }
            let mut best: Option<(i64, f64, AxisStatus, Option<usize>)> = None;
            let mut consider = |pos: f64, bits: AxisStatus, idx: Option<usize>| {
                if (pos - p.x0) * dir > 1e-9 {
                    if let Some(th) = p.time_to_reach(pos) {
                        if best.is_none_or(|b| th < b.0) {
                            best = Some((th, pos, bits, idx));
                        }
                    }
                }
            };
            if dir > 0.0 {
                if let Some(l) = sw.plus_limit {
                    consider(l as f64 + lag, AxisStatus::PLUS_LIMIT_ERROR, None);
                }
            } else if let Some(l) = sw.minus_limit {
                consider(l as f64 + lag, AxisStatus::MINUS_LIMIT_ERROR, None);
            }
            for (i, pl) in ax.phantom_limits.iter().enumerate() {
                let bits = if dir > 0.0 { AxisStatus::PLUS_LIMIT_ERROR } else { AxisStatus::MINUS_LIMIT_ERROR };
                consider(*pl as f64 + lag, bits, Some(i));
            }
            if best.is_some() {
                return best;
            }
        }
        None
    }
}

/// Cuts a plan at `t`: drops what starts after, shortens the piece running then. Returns the
/// position and velocity at `t`.
fn cut_plan(plan: &mut Vec<Piece>, t: i64) -> (f64, f64) {
    plan.retain(|p| p.t0_ns < t || (p.t0_ns == t && p.dur_ns == 0));
    match plan.last_mut() {
        Some(p) => {
            p.dur_ns = (t - p.t0_ns).max(0);
            (p.end_pos(), p.end_vel())
        }
        None => (f64::NAN, 0.0),
    }
}

/// The plan up to where it first reaches `x`, and that instant.
fn cut_at_crossing(plan: &[Piece], x: f64) -> Option<(i64, Vec<Piece>)> {
    for (i, p) in plan.iter().enumerate() {
        if let Some(th) = p.time_to_reach(x) {
            let mut head = plan[..=i].to_vec();
            if let Some(last) = head.last_mut() {
                last.dur_ns = th - last.t0_ns;
            }
            return Some((th, head));
        }
    }
    None
}

#[cfg(test)]
mod tests;
