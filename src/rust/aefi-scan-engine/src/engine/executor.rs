//! The flyscan executor: one scan = two threads it owns, a handle to watch, drain, abort, join.
//!
//! - The **motion thread** owns the stage (the lent link) for the whole scan: it moves the slow
//!   axis, brings the fast axis to the run-up start, launches the constant-speed move, then polls
//!   the fast axis back to back (the wire's limit), passing each stamped poll to the trigger loop.
//!   It checks the abort flag between transactions (at most one transaction, a few ms, apart), so
//!   ABORT goes on the wire within ~20 ms whatever the state. A fault (link timeout, controller
//!   error, limit) stops the motors and ends the scan `failed` with a typed error. The stage is
//!   dropped when the thread ends — on every path — which returns a lent link to its owner.
//! - The **trigger thread** ([`super::trigger`]) paces the detector and pushes records.
//!
//! Records already in the ring stay readable after any ending. Dropping the handle aborts and
//! joins, so a scan never outlives its owner.
use super::detector::Detector;
use super::model::Trapezoid;
use super::plan::{validate, Axis, FlyPlan, LineSpec, PlanError, TriggerMode, ValidatedPlan};
use super::record::{drain_columns, ring, Columns, Record};
use super::stage::{AxisMotion, Stage, StageError};
use super::stats::{Live, Progress, ScanErrorInfo, ScanState, ScanStats, ThreadDone};
use super::trigger::{run_trigger_loop, Msg, TriggerConfig, TriggerOutcome};
use crate::clock::mono_ns;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Why a scan could not start (nothing moved).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StartError {
    /// The plan was refused.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The controller could not be read.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// A thread could not be spawned.
    #[error("cannot start the scan threads: {0}")]
    Spawn(String),
}

enum Interrupt {
    Abort,
    Fault(ScanErrorInfo),
}

impl From<StageError> for Interrupt {
    fn from(e: StageError) -> Self {
        Interrupt::Fault(ScanErrorInfo { kind: e.kind.python_type().to_string(), message: e.message })
    }
}

struct MotionOutcome {
    state: ScanState,
    error: Option<ScanErrorInfo>,
    abort_latency_ms: Option<f64>,
    flying_ns: i64,
    polls: u64,
    poll_wire_ns: f64,
}

struct Motion<'a, S: Stage> {
    stage: &'a mut S,
    live: &'a Live,
    tx: rtrb::Producer<Msg>,
    abort_sent_ns: Option<i64>,
    flying_ns: i64,
    polls: u64,
    /// Wire time of the flight polls made (bytes × byte time + turnaround), for the wire limit.
    poll_wire_ns: f64,
}

/// Shortest interval between two flight polls (ns).
const MIN_POLL_INTERVAL_NS: i64 = 200_000;
/// How long a stuck axis may sit still past its expected end before it is checked (s).
const STALL_GRACE_S: f64 = 0.25;

impl<S: Stage> Motion<'_, S> {
    fn send(&mut self, m: Msg) -> Result<(), Interrupt> {
        // The trigger loop drains every tick; a full ring means it is gone.
        let deadline = mono_ns() + 100_000_000;
        let mut m = m;
        loop {
            match self.tx.push(m) {
                Ok(()) => return Ok(()),
                Err(rtrb::PushError::Full(back)) => {
                    if self.tx.is_abandoned() || mono_ns() > deadline {
                        return Err(Interrupt::Fault(ScanErrorInfo {
                            kind: "AefiError".into(),
                            message: "the trigger thread stopped taking messages".into(),
                        }));
                    }
                    m = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
    }

    /// Sends ABORT on the first check after an abort request.
    fn check(&mut self) -> Result<(), Interrupt> {
        if self.live.abort_requested() {
            if self.abort_sent_ns.is_none() {
                self.live.set_state(ScanState::Stopping);
                self.abort_sent_ns = Some(self.stage.abort_all().unwrap_or_else(|_| mono_ns()));
            }
            return Err(Interrupt::Abort);
        }
        Ok(())
    }

    fn sleep_ms(&mut self, ms: f64) -> Result<(), Interrupt> {
        let end = mono_ns() + (ms * 1e6) as i64;
        while mono_ns() < end {
            self.check()?;
            std::thread::sleep(Duration::from_micros(500));
        }
        Ok(())
    }

    /// Polls `axis` until it rests at `target` (progress updated), checking abort and faults.
    fn wait_at(&mut self, axis: Axis, target: i64, fast: bool) -> Result<(), Interrupt> {
        let mut n = 0u32;
        loop {
            self.check()?;
            let p = self.stage.poll(axis)?;
            if fast {
                self.live.set_fast(p.steps as f64);
            } else {
                self.live.set_slow(p.steps as f64);
            }
            n += 1;
            if p.steps == target || n % 8 == 0 {
                match self.stage.motion(axis)? {
                    AxisMotion::Idle if p.steps == target => return Ok(()),
                    AxisMotion::Idle => {
                        // The move may have ended between the poll and the status query.
                        let again = self.stage.poll(axis)?;
                        if again.steps == target {
                            return Ok(());
                        }
                        return Err(Interrupt::Fault(ScanErrorInfo {
                            kind: "ControllerError".into(),
                            message: format!("axis {} stopped at {} steps before reaching {target}", axis.letter(), again.steps),
                        }));
                    }
                    AxisMotion::Fault(reason) => return Err(fault(axis, &reason)),
                    AxisMotion::Moving => {}
                }
            }
        }
    }

    fn fly(&mut self, vp: &ValidatedPlan, line: &LineSpec) -> Result<(), Interrupt> {
        let fast = vp.plan.fast_axis;
        let timing = self.stage.timing();
        let start = self.stage.poll(fast)?;
        self.check()?;
        self.live.set_state(ScanState::Flying);
        let cmd = self.stage.move_to(fast, line.runout_end_steps)?;
        let t_cmd = cmd.t_send_ns as f64 + f64::from(cmd.bytes_out) * timing.byte_time_ns;
        let wire = f64::from(cmd.bytes_out + cmd.bytes_in) * timing.byte_time_ns;
        let sigma = (((cmd.t_recv_ns - cmd.t_send_ns) as f64 - wire) / 2.0).max(100_000.0);
        let s = vp.fly_speeds;
        let profile =
            Trapezoid::new(start.steps as f64, line.runout_end_steps as f64, s.ls_pps, s.hs_pps, s.acc_ms * 1e-3, s.dec_ms * 1e-3);
        self.send(Msg::LineStart { spec: *line, profile, t_cmd_ns: t_cmd, sigma_ns: sigma })?;
        let t_fly = mono_ns();
        let expected_end = t_cmd + (profile.duration_s() + STALL_GRACE_S) * 1e9;
        let mut still = 0u32;
        let mut last = start.steps;
        let result = loop {
            if let Err(e) = self.check() {
                break Err(e);
            }
            let p = match self.stage.poll(fast) {
                Ok(p) => p,
                Err(e) => break Err(e.into()),
            };
            self.polls += 1;
            self.live.set_fast(p.steps as f64);
            self.poll_wire_ns += f64::from(p.bytes_out + p.bytes_in) * timing.byte_time_ns + timing.turnaround_ns;
            self.live.polls.fetch_add(1, Ordering::Relaxed);
            // A link without wire time (an untimed simulator) would poll millions of times a
            // second and starve the trigger thread on a small machine: cap at the wire rate of
            // a fast link.
            let next = p.t_send_ns + MIN_POLL_INTERVAL_NS;
            if next > mono_ns() {
                super::pacer::sleep_until(next);
            }
            self.send(Msg::Poll(p))?;
            if p.steps == line.runout_end_steps {
                break Ok(());
            }
            still = if p.steps == last { still + 1 } else { 0 };
            last = p.steps;
            if still >= 3 && (p.t_recv_ns as f64) > expected_end {
                match self.stage.motion(fast)? {
                    AxisMotion::Moving => still = 0,
                    AxisMotion::Idle if self.stage.poll(fast)?.steps == line.runout_end_steps => break Ok(()),
                    AxisMotion::Idle => {
                        break Err(Interrupt::Fault(ScanErrorInfo {
                            kind: "ControllerError".into(),
                            message: format!("axis {} stopped at {} steps, short of {}", fast.letter(), p.steps, line.runout_end_steps),
                        }))
                    }
                    AxisMotion::Fault(reason) => break Err(fault(fast, &reason)),
                }
            }
        };
        self.flying_ns += mono_ns() - t_fly;
        // The line's records are positioned with what was polled, even on an abort or a fault.
        self.send(Msg::LineEnd)?;
        result
    }

    fn run(&mut self, vp: &ValidatedPlan) -> Result<(), Interrupt> {
        let (fast, slow) = (vp.plan.fast_axis, vp.plan.slow_axis);
        for (i, line) in vp.lines.iter().enumerate() {
            self.check()?;
            self.live.current_line.store(line.index, Ordering::Relaxed);
            self.live.set_state(if i == 0 { ScanState::MovingToStart } else { ScanState::BetweenLines });
            let mut slow_moved = false;
            if let Some(sa) = slow {
                let here = self.stage.poll(sa)?;
                self.live.set_slow(here.steps as f64);
                if here.steps != line.slow_steps {
                    self.check()?;
                    self.stage.move_to(sa, line.slow_steps)?;
                    slow_moved = true;
                }
            }
            let here = self.stage.poll(fast)?;
            if here.steps != line.runup_start_steps {
                self.check()?;
                self.stage.move_to(fast, line.runup_start_steps)?;
            }
            if let Some(sa) = slow {
                self.wait_at(sa, line.slow_steps, false)?;
            }
            self.wait_at(fast, line.runup_start_steps, true)?;
            if slow_moved && vp.plan.settle_ms > 0.0 {
                self.sleep_ms(vp.plan.settle_ms)?;
            }
            self.fly(vp, line)?;
            self.live.lines_done.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

fn fault(axis: Axis, reason: &str) -> Interrupt {
    Interrupt::Fault(ScanErrorInfo { kind: "ControllerError".into(), message: format!("axis {}: {reason}", axis.letter()) })
}

fn motion_thread<S: Stage>(mut stage: S, vp: ValidatedPlan, live: Arc<Live>, tx: rtrb::Producer<Msg>) -> MotionOutcome {
    let _done = ThreadDone(&live);
    let fast = vp.plan.fast_axis;
    let mut m = Motion { stage: &mut stage, live: &live, tx, abort_sent_ns: None, flying_ns: 0, polls: 0, poll_wire_ns: 0.0 };
    let previous_hs = m.stage.set_axis_high_speed(fast, vp.fly_speeds.hs_pps);
    let result = match &previous_hs {
        Ok(_) => m.run(&vp),
        Err(e) => Err(e.clone().into()),
    };
    let (state, error) = match result {
        Ok(()) => (ScanState::Completed, None),
        Err(Interrupt::Abort) => (ScanState::Aborted, None),
        Err(Interrupt::Fault(info)) => {
            live.set_state(ScanState::Stopping);
            // Best effort: the link may be the thing that failed.
            let _ = m.stage.stop_all();
            (ScanState::Failed, Some(info))
        }
    };
    if let Ok(prev) = previous_hs {
        restore_high_speed(m.stage, fast, prev);
    }
    let abort_latency_ms = m.abort_sent_ns.map(|t| (t - live.abort_requested_ns.load(Ordering::Acquire)) as f64 * 1e-6);
    let _ = m.send(Msg::Finish);
    live.set_final(state);
    MotionOutcome { state, error, abort_latency_ms, flying_ns: m.flying_ns, polls: m.polls, poll_wire_ns: m.poll_wire_ns }
    // `stage` drops here: a lent link goes home on every path.
}

/// Puts the fast axis' high speed back; a decelerating axis refuses (`PULSING`) for a while.
fn restore_high_speed<S: Stage>(stage: &mut S, axis: Axis, raw: f64) {
    for _ in 0..40 {
        match stage.set_axis_high_speed(axis, raw) {
            Ok(_) => return,
            Err(e) if e.code.as_deref() == Some("PULSING") => std::thread::sleep(Duration::from_millis(25)),
            Err(_) => return,
        }
    }
}

/// A running (or finished) scan.
pub struct Scan {
    live: Arc<Live>,
    consumer: Mutex<rtrb::Consumer<Record>>,
    threads: Mutex<Option<(JoinHandle<MotionOutcome>, JoinHandle<TriggerOutcome>)>>,
    stats: Mutex<Option<ScanStats>>,
    plan: ValidatedPlan,
    wire_limit_hz: f64,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").field("progress", &self.progress()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Validates `plan` against the stage and starts the scan threads. Returns at once.
///
/// # Errors
/// [`StartError::Plan`] for a refused plan, [`StartError::Stage`] when the controller cannot be
/// read; in both cases nothing moved and the stage is dropped (a lent link goes home).
pub fn start<S: Stage + 'static>(plan: &FlyPlan, mut stage: S, detector: Box<dyn Detector>) -> Result<Scan, StartError> {
    if plan.trigger == TriggerMode::Continuous && !detector.self_timed() && plan.detector != super::plan::DetectorKind::Board {
        return Err(PlanError::new("trigger", "continuous needs a detector with its own sample time (board or external)").into());
    }
    let speeds = stage.speeds(plan.fast_axis)?;
    let vp = validate(plan, &speeds)?;
    let timing = stage.timing();
    let wire_limit_hz = stage.wire_limit_hz();
    let (writer, consumer, counters) = ring(plan.ring_capacity);
    let live = Arc::new(Live::new(plan.lines, counters));
    let (tx, rx) = rtrb::RingBuffer::<Msg>::new(1 << 16);
    let cfg = TriggerConfig {
        mode: plan.trigger,
        rate_hz: plan.sample_rate_hz,
        realtime: plan.realtime,
        speed_pps: plan.speed_pps,
        timing,
        lines: plan.lines,
    };
    let live_rt = Arc::clone(&live);
    let rt = std::thread::Builder::new()
        .name("aefi-trigger".into())
        .spawn(move || run_trigger_loop(cfg, detector, rx, writer, live_rt))
        .map_err(|e| StartError::Spawn(e.to_string()))?;
    let live_m = Arc::clone(&live);
    let vp_m = vp.clone();
    let motion = match std::thread::Builder::new().name("aefi-motion".into()).spawn(move || motion_thread(stage, vp_m, live_m, tx)) {
        Ok(h) => h,
        Err(e) => {
            // The trigger thread ends when its message producer (dropped with the closure) is gone.
            let _ = rt.join();
            return Err(StartError::Spawn(e.to_string()));
        }
    };
    Ok(Scan {
        live,
        consumer: Mutex::new(consumer),
        threads: Mutex::new(Some((motion, rt))),
        stats: Mutex::new(None),
        plan: vp,
        wire_limit_hz,
    })
}

impl Scan {
    /// A snapshot of the live progress (lock-free reads of atomics).
    pub fn progress(&self) -> Progress {
        self.live.progress()
    }

    /// Moves up to `max` records (all available when None) out of the ring.
    pub fn drain(&self, max: Option<usize>) -> Columns {
        drain_columns(&mut lock(&self.consumer), max)
    }

    /// Requests an abort; the motion thread sends ABORT at its next check.
    pub fn abort(&self) {
        self.live.request_abort();
    }

    /// True when both threads have ended.
    pub fn is_finished(&self) -> bool {
        lock(&self.threads).as_ref().map_or(true, |(m, r)| m.is_finished() && r.is_finished())
    }

    /// The validated plan.
    pub fn plan(&self) -> &ValidatedPlan {
        &self.plan
    }

    /// Waits for the end (up to `timeout`, then aborts and waits for the abort to finish) and
    /// returns the final statistics. Later calls return the same statistics.
    pub fn join(&self, timeout: Option<Duration>) -> ScanStats {
        if let Some(s) = lock(&self.stats).as_ref() {
            return s.clone();
        }
        if let Some(t) = timeout {
            let deadline = mono_ns() + t.as_nanos().min(i64::MAX as u128) as i64;
            while !self.is_finished() && mono_ns() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            if !self.is_finished() {
                self.abort();
            }
        }
        let mut stats_slot = lock(&self.stats);
        if let Some(s) = stats_slot.as_ref() {
            return s.clone();
        }
        let taken = lock(&self.threads).take();
        let stats = match taken {
            Some((m, r)) => {
                let mo = m.join();
                let ro = r.join();
                self.compose(mo.ok(), ro.ok())
            }
            None => self.compose(None, None),
        };
        *stats_slot = Some(stats.clone());
        stats
    }

    fn compose(&self, mo: Option<MotionOutcome>, ro: Option<TriggerOutcome>) -> ScanStats {
        let live = &self.live;
        let now = mono_ns();
        let _ = live.t_end_ns.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        let (mut state, mut error) = match &mo {
            Some(m) => (m.state, m.error.clone()),
            None => (ScanState::Failed, Some(ScanErrorInfo { kind: "AefiError".into(), message: "the motion thread panicked".into() })),
        };
        match &ro {
            Some(r) => {
                if let (Some(e), None) = (&r.start_error, &error) {
                    state = ScanState::Failed;
                    error = Some(ScanErrorInfo { kind: "BoardError".into(), message: e.to_string() });
                }
            }
            None if error.is_none() => {
                state = ScanState::Failed;
                error = Some(ScanErrorInfo { kind: "AefiError".into(), message: "the trigger thread panicked".into() });
            }
            None => {}
        }
        if let Some(e) = live.detector_failure() {
            // the detector ended the scan (its link failed): the abort that stopped the motors
            // was the engine's, not the user's
            state = ScanState::Failed;
            error = Some(ScanErrorInfo { kind: e.kind.into(), message: e.message });
        }
        live.force_state(state);
        let ro = ro.unwrap_or(TriggerOutcome {
            lateness: Default::default(),
            missed: 0,
            rt: Default::default(),
            line_times: Vec::new(),
            detector_faults: 0,
            rejected_samples: 0,
            max_duration_ns: 0,
            flying_samples: 0,
            flying_ns: 0,
            start_error: None,
        });
        let (flying_ns, polls, abort_latency_ms, poll_wire_ns) =
            mo.map(|m| (m.flying_ns, m.polls, m.abort_latency_ms, m.poll_wire_ns)).unwrap_or((0, 0, None, 0.0));
        // The wire limit of the polls actually made (their frame sizes), else the link's figure.
        let wire_limit_hz = if poll_wire_ns > 0.0 { polls as f64 / (poll_wire_ns * 1e-9) } else { self.wire_limit_hz };
        let samples = live.samples.load(Ordering::Relaxed);
        ScanStats {
            status: state,
            error,
            lines: live.lines_done.load(Ordering::Relaxed),
            samples,
            wall_time_s: (live.t_end_ns.load(Ordering::Acquire) - live.t_start_ns) as f64 * 1e-9,
            polls,
            poll_rate_hz: if flying_ns > 0 { polls as f64 / (flying_ns as f64 * 1e-9) } else { 0.0 },
            wire_limit_hz,
            trigger_lateness_us: ro.lateness,
            missed_triggers: ro.missed,
            dropped_records: live.ring.dropped.load(Ordering::Relaxed),
            sample_rate_hz: if ro.flying_ns > 0 && ro.flying_samples > 1 {
                (ro.flying_samples - ro.line_times.iter().filter(|l| l.samples > 0).count() as u64) as f64 / (ro.flying_ns as f64 * 1e-9)
            } else {
                0.0
            },
            smear_steps: self.plan.plan.speed_pps * ro.max_duration_ns as f64 * 1e-9,
            rt: ro.rt,
            line_times: ro.line_times,
            abort_latency_ms,
            detector_faults: ro.detector_faults,
            rejected_samples: ro.rejected_samples,
        }
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        if !self.is_finished() {
            self.abort();
        }
        let _ = self.join(None);
    }
}
