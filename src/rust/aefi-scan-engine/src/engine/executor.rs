//! The flyscan executor: a scan in four verbs, and `abort` from any state.
//!
//! - [`Executor::prepare`] checks the plan against the controller and every axis it uses (a
//!   latched limit or alarm, or a moving axis, refuses the scan before any motion, naming the axis
//!   and the latch), then starts the two scan threads: while the motion thread brings the axes
//!   to the first line's run-up start, the record ring is allocated and faulted in and the
//!   trigger thread arms the detector. It returns when both are ready (state `ready`).
//! - [`Executor::kickoff`] lets the motion thread fly the lines; it returns at once.
//! - [`Executor::complete`] gives a [`Completion`]: done when the last line is (or the scan
//!   ended otherwise), with progress on the way and the statistics at the end.
//! - [`Executor::collect`] drains the records taken since the last call.
//! - [`Executor::abort`] works in every state, `prepare`'s move to the start included.
//!
//! [`start`] is `prepare` then `kickoff`, for callers that want one blocking call to launch.
//!
//! The threads:
//! - The **motion thread** owns the stage (the lent link) for the whole scan: it moves the axes to
//!   the start, launches each constant-speed line and polls the fast axis back to back (the wire's
//!   limit), passing each stamped poll to the trigger loop. As soon as a poll shows the fast axis
//!   past the sampled span (the line's last sample is in) it starts the slow step to the next line,
//!   during the fast axis' run-out; arrivals are awaited with polls aimed at the instant the
//!   commanded trapezoid ends, and the next line is launched the moment both axes are there. It
//!   checks the abort flag between transactions (at most one transaction, a few ms, apart), so
//!   ABORT goes on the wire within ~20 ms whatever the state. A fault (link timeout, controller
//!   error, limit) stops the motors and ends the scan `failed` with a [`ScanFault`]. The stage is
//!   dropped when the thread ends — on every path — which returns a lent link to its owner.
//! - The **trigger thread** ([`super::trigger`]) arms the detector, paces it and pushes records.
//!
//! Time comes from the executor's [`Clock`] (the stage's time base: the monotonic clock for real
//! links, a [`crate::clock::ManualClock`] in tests), which times every deadline, wait and figure.
//! Records already in the ring stay readable after any ending. Dropping a [`Scan`] or an
//! [`Executor`] aborts and joins, so a scan never outlives its owner.
use super::detector::{Detector, DetectorError, DetectorErrorKind, ExcitationReport, ExcitationSwitch};
use super::encoder::EncoderCheck;
use super::fault::{AxisRefusal, ScanFault};
use super::model::{LinkTiming, Poll, Trapezoid};
use super::physics::{self, StartPositions};
use super::plan::{validate, Axis, AxisSpeeds, Cadence, FlyPlan, LineSpec, PlanError, TriggerMode, ValidatedPlan};
use super::record::{drain_columns, ring, Columns, Record};
use super::stage::{AxisMotion, Latch, Stage, StageError, StageErrorKind};
use super::stats::{Live, Progress, ScanState, ScanStats, ThreadDone};
use super::trigger::{run_trigger_loop, Msg, TriggerConfig, TriggerOutcome};
use crate::clock::{Clock, MonotonicClock};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// Shortest interval between two flight polls (ns).
const MIN_POLL_INTERVAL_NS: i64 = 200_000;
/// How long a stuck axis may sit still past its expected end before it is checked (s).
const STALL_GRACE_S: f64 = 0.25;
/// Longest a wait goes without checking the abort flag (ns): bounds the abort latency.
const CHECK_PERIOD_NS: i64 = 2_000_000;
/// A poll aimed at an instant samples this long after it (ns): a prediction a hair early still
/// sees the axis there.
const AIM_MARGIN_NS: i64 = 500_000;
/// Polls of a late axis between two status queries (a stopped or faulted axis is noticed).
const STATUS_EVERY_POLLS: u32 = 8;
/// Longest wait for the board to apply a mute or an unmute (ns): four register writes, a few ms
/// each, after the transaction in progress.
const EXCITATION_TIMEOUT_NS: i64 = 2_000_000_000;
/// Messages the motion thread can queue for the trigger thread.
const MSG_CAPACITY: usize = 1 << 16;
/// How long a move refused with `PULSING` (an axis a hair from the end of its previous move) is
/// retried before it counts as a fault (ns).
const PULSING_RETRY_NS: i64 = 200_000_000;

enum Interrupt {
    Abort,
    Fault(ScanFault),
}

impl From<StageError> for Interrupt {
    fn from(e: StageError) -> Self {
        Interrupt::Fault(ScanFault::Stage(e))
    }
}

impl From<ScanFault> for Interrupt {
    fn from(e: ScanFault) -> Self {
        Interrupt::Fault(e)
    }
}

fn is_pulsing(e: &StageError) -> bool {
    e.kind == StageErrorKind::Controller && e.code.as_deref() == Some("PULSING")
}

fn stopped_short(axis: Axis, at: i64, target: i64) -> Interrupt {
    Interrupt::Fault(ScanFault::Stage(StageError::new(
        StageErrorKind::Controller,
        format!("axis {} stopped at {at} steps before reaching {target}", axis.letter()),
    )))
}

struct MotionOutcome {
    state: ScanState,
    error: Option<ScanFault>,
    abort_latency_ms: Option<f64>,
    flying_ns: i64,
    polls: u64,
    poll_wire_ns: f64,
    physical_min_s: Option<f64>,
    link_retries: u64,
}

/// A move under way, awaited by [`Motion::arrive`].
#[derive(Debug, Clone, Copy)]
struct Pending {
    axis: Axis,
    from: i64,
    target: i64,
    /// When the command reached the controller (ns).
    t_cmd_ns: i64,
    /// When the commanded trapezoid ends (ns); None: unknown, or the axis was late.
    end_ns: Option<i64>,
    polls: u32,
}

struct Motion<'a, S: Stage> {
    stage: &'a mut S,
    live: &'a Live,
    tx: rtrb::Producer<Msg>,
    timing: LinkTiming,
    fast: Axis,
    slow: Option<Axis>,
    /// Last known positions (steps).
    fast_at: i64,
    slow_at: Option<i64>,
    slow_speeds: Option<AxisSpeeds>,
    /// The fast axis' encoder checked against its pulse counter at every poll (plan with an encoder).
    encoder: Option<EncoderCheck>,
    pending: Vec<Pending>,
    /// A slow step still to be seen arrived, during the next line's run-up.
    arriving: Option<Pending>,
    /// Wire time of a move command (ns): times a command to reach the controller at an instant.
    move_out_ns: i64,
    /// Wire time of a poll's command and a poll's round trip (ns): aims a poll at an instant.
    poll_out_ns: i64,
    poll_rt_ns: i64,
    abort_sent_ns: Option<i64>,
    flying_ns: i64,
    polls: u64,
    /// Wire time of the flight polls made (bytes × byte time + turnaround), for the wire limit.
    poll_wire_ns: f64,
    /// The step size, for positions in messages (µm).
    step_um: f64,
    /// The last target commanded to each axis, for the message of a link lost mid-move.
    targets: Vec<(Axis, i64)>,
    /// The detector's excitation switch (differential scans).
    excitation: Option<Arc<dyn ExcitationSwitch>>,
}

impl<S: Stage> Motion<'_, S> {
    fn now(&self) -> i64 {
        self.live.now_ns()
    }

    fn send(&mut self, m: Msg) -> Result<(), Interrupt> {
        // The trigger loop drains every tick; a ring full for 100 ms of real time means it is gone
        // (a thread's liveness is a wall-clock matter, whatever the scan's clock).
        let mut m = m;
        for _ in 0..500 {
            match self.tx.push(m) {
                Ok(()) => return Ok(()),
                Err(rtrb::PushError::Full(back)) => {
                    if self.tx.is_abandoned() {
                        break;
                    }
                    m = back;
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        }
        Err(Interrupt::Fault(ScanFault::engine("the trigger thread stopped taking messages")))
    }

    /// Sends ABORT on the first check after an abort request.
    fn check(&mut self) -> Result<(), Interrupt> {
        if self.live.abort_requested() {
            if self.abort_sent_ns.is_none() {
                self.live.set_state(ScanState::Stopping);
                let now = self.now();
                self.abort_sent_ns = Some(self.stage.abort_all().unwrap_or(now));
            }
            return Err(Interrupt::Abort);
        }
        Ok(())
    }

    /// Waits until `t_ns` on the scan's clock, checking the abort flag.
    fn sleep_until(&mut self, t_ns: i64) -> Result<(), Interrupt> {
        loop {
            self.check()?;
            let now = self.now();
            if now >= t_ns {
                return Ok(());
            }
            self.live.clock().sleep_until_ns(t_ns.min(now + CHECK_PERIOD_NS));
        }
    }

    fn sleep_ms(&mut self, ms: f64) -> Result<(), Interrupt> {
        let end = self.now() + (ms * 1e6) as i64;
        self.sleep_until(end)
    }

    fn commanded(&mut self, axis: Axis, target: i64) {
        self.targets.retain(|(a, _)| *a != axis);
        self.targets.push((axis, target));
    }

    /// Where the axes may still be going when the link is lost: the controller finishes a move
    /// it has started whether anyone listens or not.
    fn still_moving_hint(&self) -> String {
        let mm = |steps: i64| steps as f64 * self.step_um * 1e-3;
        let seen = |axis: Axis| if axis == self.fast { Some(self.fast_at) } else { self.slow_at };
        let axes: Vec<String> = self
            .targets
            .iter()
            .filter(|(axis, target)| seen(*axis) != Some(*target))
            .map(|(axis, target)| {
                let last = seen(*axis).map_or(String::new(), |s| format!(" (last seen at {:.3} mm)", mm(s)));
                format!("axis {} to {:.3} mm{last}", axis.letter(), mm(*target))
            })
            .collect();
        if axes.is_empty() {
            String::from("no move was under way")
        } else {
            format!("the controller may still be moving {} (it ends a started move on its own)", axes.join(", "))
        }
    }

    fn latched(&self, axis: Axis, latch: Latch, at_steps: i64) -> Interrupt {
        ScanFault::AxisLatched { axis, latch, at_steps, step_um: self.step_um }.into()
    }

    fn poll(&mut self, axis: Axis) -> Result<Poll, Interrupt> {
        let p = self.stage.poll(axis)?;
        self.poll_out_ns = (f64::from(p.bytes_out) * self.timing.byte_time_ns) as i64;
        self.poll_rt_ns = p.t_recv_ns - p.t_send_ns;
        if axis == self.fast {
            self.fast_at = p.steps;
            self.live.set_fast(p.steps as f64);
            self.check_encoder(&p)?;
        } else if Some(axis) == self.slow {
            self.slow_at = Some(p.steps);
            self.live.set_slow(p.steps as f64);
        }
        Ok(p)
    }

    /// With an encoder on the fast axis, judges the last encoder reading against this pulse poll
    /// and reads the encoder again; stops the scan, failed, when they disagree (lost steps).
    fn check_encoder(&mut self, pulse: &Poll) -> Result<(), Interrupt> {
        let Some(check) = self.encoder.as_mut() else {
            return Ok(());
        };
        check.pulse(pulse.steps).map_err(|s| Interrupt::Fault(ScanFault::EncoderSlip(s)))?;
        let counts = self.stage.poll_encoder(self.fast)?.steps;
        if let Some(check) = self.encoder.as_mut() {
            check.encoder(pulse.steps, counts);
        }
        Ok(())
    }

    /// Ties the fast axis' encoder to its pulse counter while the axis rests (before any motion).
    fn encoder_origin(&mut self) -> Result<(), Interrupt> {
        if self.encoder.is_some() {
            let steps = self.stage.poll(self.fast)?.steps;
            let counts = self.stage.poll_encoder(self.fast)?.steps;
            if let Some(check) = self.encoder.as_mut() {
                check.set_origin(steps, counts);
            }
        }
        Ok(())
    }

    /// If the instant `t_ns` falls inside the next poll's round trip, waits so that the poll
    /// samples just after it (instead of a whole round trip later).
    fn aim_poll(&mut self, t_ns: i64) -> Result<(), Interrupt> {
        let sample_now = self.now() + self.poll_out_ns;
        if sample_now < t_ns && t_ns < sample_now + self.poll_rt_ns {
            self.sleep_until(t_ns - self.poll_out_ns + AIM_MARGIN_NS)?;
        }
        Ok(())
    }

    /// When a command's frame has fully reached the controller (ns).
    fn arrival_ns(&self, cmd: &Poll) -> i64 {
        cmd.t_send_ns + (f64::from(cmd.bytes_out) * self.timing.byte_time_ns) as i64
    }

    /// An absolute move; a `PULSING` refusal (the axis a hair from the end of its last move) is
    /// retried for a while.
    fn move_to(&mut self, axis: Axis, target: i64) -> Result<Poll, Interrupt> {
        let give_up = self.now() + PULSING_RETRY_NS;
        loop {
            match self.stage.move_to(axis, target) {
                Ok(cmd) => {
                    self.commanded(axis, target);
                    self.move_out_ns = (f64::from(cmd.bytes_out) * self.timing.byte_time_ns) as i64;
                    return Ok(cmd);
                }
                Err(e) if is_pulsing(&e) && self.now() < give_up => {
                    let again = self.now() + 2_000_000;
                    self.sleep_until(again)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Duration (ns) of `axis`' move at the speeds it runs at, when known.
    fn predict_ns(&self, axis: Axis, from: i64, target: i64, fly: &AxisSpeeds) -> Option<i64> {
        let speeds = if axis == self.fast { Some(*fly) } else { self.slow_speeds };
        speeds.map(|s| (physics::move_s(from, target, &s) * 1e9) as i64)
    }

    /// Books a commanded move for [`Motion::arrive`].
    fn booked(&mut self, axis: Axis, from: i64, target: i64, cmd: &Poll, fly: &AxisSpeeds) {
        let t_cmd_ns = self.arrival_ns(cmd);
        let end_ns = self.predict_ns(axis, from, target, fly).map(|d| t_cmd_ns + d);
        self.pending.push(Pending { axis, from, target, t_cmd_ns, end_ns, polls: 0 });
    }

    /// Starts a move from the last known position and books it.
    fn start_move(&mut self, axis: Axis, target: i64, fly: &AxisSpeeds) -> Result<(), Interrupt> {
        let from = if axis == self.fast { self.fast_at } else { self.slow_at.unwrap_or(target) };
        if from == target {
            return Ok(());
        }
        self.check()?;
        let cmd = self.move_to(axis, target)?;
        self.booked(axis, from, target, &cmd, fly);
        Ok(())
    }

    /// Waits until every booked move has arrived: a poll aimed at each predicted end, then polls
    /// back to back for an axis that is late (with a status query now and then, so that an axis
    /// stopped short or latched is noticed).
    fn arrive(&mut self) -> Result<(), Interrupt> {
        while !self.pending.is_empty() {
            self.check()?;
            // The next line needs every axis: polls pay off once the last predicted end is
            // near; an axis without a prediction (unknown speeds, or late) is polled at once.
            if self.pending.iter().all(|m| m.end_ns.is_some()) {
                if let Some(end) = self.pending.iter().filter_map(|m| m.end_ns).max() {
                    self.sleep_until(end - self.poll_out_ns + AIM_MARGIN_NS)?;
                }
            }
            let mut k = 0;
            while k < self.pending.len() {
                let m = self.pending[k];
                let p = self.poll(m.axis)?;
                if p.steps == m.target {
                    self.pending.swap_remove(k);
                    continue;
                }
                let polls = m.polls + 1;
                self.pending[k].polls = polls;
                self.pending[k].end_ns = None;
                if polls % STATUS_EVERY_POLLS == 0 {
                    match self.stage.motion(m.axis)? {
                        AxisMotion::Moving => {}
                        AxisMotion::Idle => {
                            // the move may have ended between the poll and the status query
                            if self.poll(m.axis)?.steps == m.target {
                                self.pending.swap_remove(k);
                                continue;
                            }
                            return Err(stopped_short(m.axis, p.steps, m.target));
                        }
                        AxisMotion::Fault(latch) => return Err(self.latched(m.axis, latch, p.steps)),
                    }
                }
                k += 1;
            }
        }
        Ok(())
    }

    /// The slow axis on its way to the first line (before the fast axis: its way is usually the
    /// longer one).
    fn start_slow_to_first_line(&mut self, vp: &ValidatedPlan) -> Result<(), Interrupt> {
        self.live.set_state(ScanState::MovingToStart);
        match self.slow {
            Some(sa) => self.start_move(sa, vp.lines[0].slow_steps, &vp.fly_speeds),
            None => Ok(()),
        }
    }

    /// `prepare`'s part, the slow axis already on its way: the fast axis to the first line's
    /// run-up start, the slow axis' speeds read while they move, then ready once the detector is
    /// armed.
    fn go_to_start(&mut self, vp: &ValidatedPlan) -> Result<(), Interrupt> {
        let first = vp.lines[0];
        let fly = vp.fly_speeds;
        self.start_move(self.fast, first.runup_start_steps, &fly)?;
        if let Some(sa) = self.slow {
            // Overlapped with the moves: the slow axis' speeds predict its steps and give the
            // plan's physical minimum.
            let speeds = self.stage.speeds(sa)?;
            self.slow_speeds = Some(speeds);
            for m in self.pending.iter_mut().filter(|m| m.axis == sa) {
                m.end_ns = Some(m.t_cmd_ns + (physics::move_s(m.from, m.target, &speeds) * 1e9) as i64);
            }
        }
        let stepped = self.pending.iter().any(|m| Some(m.axis) == self.slow);
        self.arrive()?;
        if stepped && vp.plan.settle_ms > 0.0 {
            self.sleep_ms(vp.plan.settle_ms)?;
        }
        // The trigger thread arms the detector meanwhile; a detector that fails to arm requests
        // the abort that `check` turns into the end of the scan.
        while !self.live.armed() {
            self.check()?;
            std::thread::sleep(Duration::from_micros(200));
        }
        self.live.t_ready_ns.store(self.now(), Ordering::Release);
        self.live.set_state(ScanState::Ready);
        Ok(())
    }

    /// Waits for `kickoff` (or an abort).
    fn wait_kickoff(&mut self) -> Result<(), Interrupt> {
        while self.live.t_kickoff_ns.load(Ordering::Acquire) == 0 {
            self.check()?;
            std::thread::park_timeout(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Asks for the excitation `line` flies with (muted for a baseline line); returns at once.
    fn request_excitation(&self, vp: &ValidatedPlan, line: &LineSpec) {
        if let (true, Some(x)) = (vp.plan.differential, &self.excitation) {
            x.request(!line.baseline);
        }
    }

    /// Before `line` flies: its excitation applied, and settled for the plan's settle time.
    fn excitation_settled(&mut self, vp: &ValidatedPlan, line: &LineSpec) -> Result<(), Interrupt> {
        if !vp.plan.differential {
            return Ok(());
        }
        let Some(x) = self.excitation.clone() else {
            return Err(ScanFault::engine("a differential scan without an excitation switch").into());
        };
        let on = !line.baseline;
        x.request(on);
        let give_up = self.now() + EXCITATION_TIMEOUT_NS;
        let applied_ns = loop {
            self.check()?;
            let failed = |m: String| Interrupt::Fault(ScanFault::Detector(DetectorError::fatal(DetectorErrorKind::Device, m)));
            match x.applied(on) {
                Ok(Some(t)) => break t,
                Ok(None) if self.now() > give_up => {
                    let what = if on { "unmuted" } else { "muted" };
                    return Err(failed(format!("the board's excitation was not {what} within 2 s (line {})", line.index)));
                }
                Ok(None) => std::thread::sleep(Duration::from_micros(500)),
                Err(e) => return Err(failed(e)),
            }
        };
        self.sleep_until(applied_ns + (vp.plan.excitation_settle_ms * 1e6) as i64)
    }

    fn run(&mut self, vp: &ValidatedPlan) -> Result<(), Interrupt> {
        for (i, line) in vp.lines.iter().enumerate() {
            self.check()?;
            self.live.current_line.store(line.index, Ordering::Relaxed);
            let next = vp.lines.get(i + 1);
            self.excitation_settled(vp, line)?;
            self.fly(vp, line, next)?;
            self.live.lines_done.fetch_add(1, Ordering::Relaxed);
            if let Some(next) = next {
                self.transition(vp, next)?;
            }
        }
        Ok(())
    }

    /// Between two lines: the fast axis to the next run-up start (a unidirectional raster's
    /// return; a serpentine one is already there), then the axes' arrival.
    ///
    /// The fast axis must be there before its next move; the slow axis only before the next
    /// line's first sample, a whole run-up later. So, unless the plan asks for a settle time,
    /// the next line's command is timed to reach the controller when the slow step is predicted
    /// to end, and the step is seen arrived by polls during the run-up ([`Motion::fly_polls`]).
    fn transition(&mut self, vp: &ValidatedPlan, next: &LineSpec) -> Result<(), Interrupt> {
        self.live.set_state(ScanState::BetweenLines);
        // muted or unmuted now, so that it settles during the moves (the legacy step scan mutes
        // before its move for the same reason)
        self.request_excitation(vp, next);
        self.live.current_line.store(next.index, Ordering::Relaxed);
        self.start_move(self.fast, next.runup_start_steps, &vp.fly_speeds)?;
        let slow = self.slow;
        if vp.plan.settle_ms > 0.0 {
            let stepped = self.pending.iter().any(|m| Some(m.axis) == slow);
            self.arrive()?;
            if stepped {
                self.sleep_ms(vp.plan.settle_ms)?;
            }
            return Ok(());
        }
        let step = self.pending.iter().position(|m| Some(m.axis) == slow).map(|k| self.pending.swap_remove(k));
        self.arrive()?;
        match step {
            Some(m @ Pending { end_ns: Some(end), .. }) => {
                self.arriving = Some(m);
                self.sleep_until(end - self.move_out_ns + AIM_MARGIN_NS)
            }
            Some(m) => {
                self.pending.push(m);
                self.arrive()
            }
            None => Ok(()),
        }
    }

    /// One poll of the slow step still arriving; a fault if the slow axis stopped short or
    /// latched, or if the line's samples begin (`fast_at` past the span's start) before it is there.
    fn confirm_arrival(&mut self, line: &LineSpec) -> Result<(), Interrupt> {
        let Some(mut m) = self.arriving else { return Ok(()) };
        let p = self.poll(m.axis)?;
        if p.steps == m.target {
            self.arriving = None;
            return Ok(());
        }
        m.polls += 1;
        self.arriving = Some(m);
        if line.direction() * (self.fast_at - line.span_from_steps) as f64 >= 0.0 {
            return Err(ScanFault::Stage(StageError::new(
                StageErrorKind::Controller,
                format!(
                    "axis {} was at {} steps, not yet at line {}'s {} steps, when the line's samples began",
                    m.axis.letter(),
                    p.steps,
                    line.index,
                    m.target
                ),
            ))
            .into());
        }
        if m.polls % STATUS_EVERY_POLLS == 0 {
            match self.stage.motion(m.axis)? {
                AxisMotion::Moving => {}
                AxisMotion::Idle => {
                    if self.poll(m.axis)?.steps == m.target {
                        self.arriving = None;
                    } else {
                        return Err(stopped_short(m.axis, p.steps, m.target));
                    }
                }
                AxisMotion::Fault(latch) => return Err(self.latched(m.axis, latch, p.steps)),
            }
        }
        Ok(())
    }

    fn fly(&mut self, vp: &ValidatedPlan, line: &LineSpec, next: Option<&LineSpec>) -> Result<(), Interrupt> {
        self.check()?;
        self.live.set_state(ScanState::Flying);
        let cmd = self.move_to(self.fast, line.runout_end_steps)?;
        let t_cmd = self.arrival_ns(&cmd) as f64;
        let wire = f64::from(cmd.bytes_out + cmd.bytes_in) * self.timing.byte_time_ns;
        let sigma = (((cmd.t_recv_ns - cmd.t_send_ns) as f64 - wire) / 2.0).max(100_000.0);
        let s = vp.fly_speeds;
        let profile =
            Trapezoid::new(self.fast_at as f64, line.runout_end_steps as f64, s.ls_pps, s.hs_pps, s.acc_ms * 1e-3, s.dec_ms * 1e-3);
        self.send(Msg::LineStart { spec: *line, profile, t_cmd_ns: t_cmd, sigma_ns: sigma })?;
        let t_fly = self.now();
        let step = match (self.slow, next) {
            (Some(sa), Some(n)) if n.slow_steps != line.slow_steps => Some((sa, n.slow_steps)),
            _ => None,
        };
        let result = self.fly_polls(vp, line, profile, t_cmd, step);
        self.flying_ns += self.now() - t_fly;
        // The line's records are positioned with what was polled, even on an abort or a fault.
        self.send(Msg::LineEnd)?;
        match result? {
            // A controller that refuses a move while another axis pulses: the step goes now.
            Some((axis, target)) => self.start_move(axis, target, &vp.fly_speeds),
            None => Ok(()),
        }
    }

    /// Polls the fast axis until the fly move ends; starts the slow step `step` as soon as a poll
    /// shows the sampled span done. Returns the step still to start (refused while pulsing).
    fn fly_polls(
        &mut self,
        vp: &ValidatedPlan,
        line: &LineSpec,
        profile: Trapezoid,
        t_cmd: f64,
        mut step: Option<(Axis, i64)>,
    ) -> Result<Option<(Axis, i64)>, Interrupt> {
        let (fast, target) = (self.fast, line.runout_end_steps);
        let expected_end = t_cmd + (profile.duration_s() + STALL_GRACE_S) * 1e9;
        let span_end_ns = t_cmd as i64 + (profile.time_at_distance((line.span_to_steps as f64 - profile.start_steps).abs()) * 1e9) as i64;
        let mut deferred = None;
        let mut still = 0u32;
        let mut last = self.fast_at;
        loop {
            self.check()?;
            // the previous step, still arriving, gets every other poll during the run-up
            if self.arriving.is_some() && self.polls % 2 == 1 {
                self.confirm_arrival(line)?;
            }
            if step.is_some() {
                self.aim_poll(span_end_ns)?;
            }
            let p = self.poll(fast)?;
            self.polls += 1;
            self.poll_wire_ns += f64::from(p.bytes_out + p.bytes_in) * self.timing.byte_time_ns + self.timing.turnaround_ns;
            self.live.polls.fetch_add(1, Ordering::Relaxed);
            // A link without wire time (an untimed simulator) would poll millions of times a
            // second and starve the trigger thread on a small machine: cap at the wire rate of
            // a fast link.
            let next = p.t_send_ns + MIN_POLL_INTERVAL_NS;
            if next > self.now() {
                self.live.clock().sleep_until_ns(next);
            }
            self.send(Msg::Poll(p))?;
            if let Some((axis, to)) = step {
                if line.direction() * (p.steps - line.span_to_steps) as f64 >= 0.0 {
                    step = None;
                    let from = self.slow_at.unwrap_or(line.slow_steps);
                    match self.stage.move_to(axis, to) {
                        Ok(cmd) => {
                            self.commanded(axis, to);
                            self.booked(axis, from, to, &cmd, &vp.fly_speeds);
                        }
                        Err(e) if is_pulsing(&e) => deferred = Some((axis, to)),
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            if p.steps == target {
                return Ok(deferred);
            }
            still = if p.steps == last { still + 1 } else { 0 };
            last = p.steps;
            // A limit stops the axis mid-line: two polls without a step where it should be moving
            // ask the controller at once, instead of waiting for the line's planned end.
            if still == 2 && (p.t_recv_ns as f64) <= expected_end {
                if let AxisMotion::Fault(latch) = self.stage.motion(fast)? {
                    return Err(self.latched(fast, latch, p.steps));
                }
            }
            if still >= 3 && (p.t_recv_ns as f64) > expected_end {
                match self.stage.motion(fast)? {
                    AxisMotion::Moving => still = 0,
                    AxisMotion::Idle if self.poll(fast)?.steps == target => return Ok(deferred),
                    AxisMotion::Idle => return Err(stopped_short(fast, p.steps, target)),
                    AxisMotion::Fault(latch) => return Err(self.latched(fast, latch, p.steps)),
                }
            }
        }
    }
}

/// Puts the fast axis' high speed back; a decelerating axis refuses (`PULSING`) for a while.
fn restore_high_speed<S: Stage>(stage: &mut S, clock: &dyn Clock, axis: Axis, raw: f64) {
    for _ in 0..40 {
        match stage.set_axis_high_speed(axis, raw) {
            Ok(_) => return,
            Err(e) if is_pulsing(&e) => clock.sleep_until_ns(clock.now_ns() + 25_000_000),
            Err(_) => return,
        }
    }
}

fn motion_thread<S: Stage>(
    mut stage: S,
    vp: ValidatedPlan,
    start: StartPositions,
    live: Arc<Live>,
    tx: rtrb::Producer<Msg>,
    excitation: Option<Arc<dyn ExcitationSwitch>>,
) -> MotionOutcome {
    let _done = ThreadDone(&live);
    let fast = vp.plan.fast_axis;
    let timing = stage.timing();
    let mut m = Motion {
        stage: &mut stage,
        live: &live,
        tx,
        timing,
        fast,
        slow: vp.plan.slow_axis,
        fast_at: start.fast_steps,
        slow_at: start.slow_steps,
        slow_speeds: None,
        encoder: (vp.plan.encoder_counts_per_step > 0.0)
            .then(|| EncoderCheck::new(fast, vp.plan.encoder_counts_per_step, vp.plan.encoder_max_slip_steps)),
        pending: Vec::with_capacity(4),
        arriving: None,
        move_out_ns: 0,
        poll_out_ns: 0,
        poll_rt_ns: 0,
        abort_sent_ns: None,
        flying_ns: 0,
        polls: 0,
        poll_wire_ns: 0.0,
        step_um: vp.plan.step_um,
        targets: Vec::with_capacity(2),
        excitation,
    };
    let mut previous_hs = None;
    let result = (|| {
        // The fly speed is the fast axis' high speed for the whole scan; set before any motion
        // (whether a controller takes a parameter while another axis pulses is not known).
        previous_hs = Some(m.stage.set_axis_high_speed(fast, vp.fly_speeds.hs_pps)?);
        m.encoder_origin()?;
        m.start_slow_to_first_line(&vp)?;
        m.go_to_start(&vp)?;
        m.wait_kickoff()?;
        m.run(&vp)
    })();
    let (state, error) = match result {
        Ok(()) => (ScanState::Completed, None),
        Err(Interrupt::Abort) => (ScanState::Aborted, None),
        Err(Interrupt::Fault(fault)) => {
            let fault = match fault {
                ScanFault::Stage(e) if matches!(e.kind, StageErrorKind::Timeout | StageErrorKind::Link) => {
                    let message = format!("{}; {}", e.message, m.still_moving_hint());
                    ScanFault::Stage(StageError { message, ..e })
                }
                other => other,
            };
            live.set_state(ScanState::Stopping);
            // Best effort: the link may be the thing that failed.
            let _ = m.stage.stop_all();
            (ScanState::Failed, Some(fault))
        }
    };
    let link_lost = matches!(&error, Some(ScanFault::Stage(e)) if matches!(e.kind, StageErrorKind::Timeout | StageErrorKind::Link));
    if let (Some(prev), false) = (previous_hs, link_lost) {
        restore_high_speed(m.stage, live.clock().as_ref(), fast, prev);
    }
    let physical_min_s = match (vp.plan.slow_axis, m.slow_speeds) {
        (Some(_), None) => None,
        (_, slow) => Some(physics::minimum_s(&vp, &start, slow.as_ref())),
    };
    let abort_latency_ms = m.abort_sent_ns.map(|t| (t - live.abort_requested_ns.load(Ordering::Acquire)) as f64 * 1e-6);
    let _ = m.send(Msg::Finish);
    live.set_final(state);
    let link_retries = m.stage.link_retries();
    MotionOutcome {
        state,
        error,
        abort_latency_ms,
        flying_ns: m.flying_ns,
        polls: m.polls,
        poll_wire_ns: m.poll_wire_ns,
        physical_min_s,
        link_retries,
    }
    // `stage` drops here: a lent link goes home on every path.
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Threads {
    motion: JoinHandle<MotionOutcome>,
    trigger: JoinHandle<TriggerOutcome>,
}

/// One scan: its plan, live values, record ring, threads and, at the end, its statistics.
pub struct Scan {
    request: FlyPlan,
    live: Arc<Live>,
    consumer: Mutex<Option<rtrb::Consumer<Record>>>,
    threads: Mutex<Option<Threads>>,
    /// The fault that refused `prepare` before the threads started.
    refusal: Mutex<Option<ScanFault>>,
    stats: Mutex<Option<ScanStats>>,
    plan: OnceLock<ValidatedPlan>,
    wire_limit_hz: OnceLock<f64>,
    /// The detector's excitation switch, for the statistics of a differential scan.
    excitation: OnceLock<Arc<dyn ExcitationSwitch>>,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan").field("progress", &self.progress()).finish()
    }
}

/// Prepares and kicks off a scan of `plan` on the monotonic clock: `prepare` then `kickoff`.
/// Returns once the lines fly.
///
/// # Errors
/// What [`Scan::prepare`] and [`Scan::kickoff`] refuse with; the scan has then ended and the
/// stage is dropped (a lent link goes home).
pub fn start<S: Stage + 'static>(plan: &FlyPlan, stage: S, detector: Box<dyn Detector>) -> Result<Arc<Scan>, ScanFault> {
    let scan = Arc::new(Scan::new(plan, Arc::new(MonotonicClock)));
    scan.prepare(stage, detector)?;
    scan.kickoff()?;
    Ok(scan)
}

impl Scan {
    /// A scan of `plan`, timed by `clock` (the stage's time base), not prepared yet.
    pub fn new(plan: &FlyPlan, clock: Arc<dyn Clock>) -> Self {
        Self {
            request: plan.clone(),
            live: Arc::new(Live::new(plan.flights(), clock)),
            consumer: Mutex::new(None),
            threads: Mutex::new(None),
            refusal: Mutex::new(None),
            stats: Mutex::new(None),
            plan: OnceLock::new(),
            wire_limit_hz: OnceLock::new(),
            excitation: OnceLock::new(),
        }
    }

    /// Validates the plan against the controller, checks every axis it uses, allocates the
    /// rings, starts the threads (the detector arms, the axes go to the run-up start) and
    /// returns when the scan is ready to fly. Blocks; [`Scan::abort`] from another thread ends it.
    ///
    /// # Errors
    /// Before any motion: [`ScanFault::Plan`], [`ScanFault::AxisRefused`], a
    /// [`ScanFault::Stage`] reading the controller. During the move to the start: the fault
    /// that stopped it, or [`ScanFault::Aborted`]. The scan has then ended (its statistics say
    /// how) and the stage is dropped.
    pub fn prepare<S: Stage + 'static>(&self, mut stage: S, detector: Box<dyn Detector>) -> Result<(), ScanFault> {
        if self.live.state() != ScanState::Preparing || self.plan.get().is_some() || lock(&self.refusal).is_some() {
            return Err(ScanFault::lifecycle("this scan was already prepared"));
        }
        let start = match self.check(&mut stage, detector.as_ref()) {
            Ok(start) => start,
            Err(fault) => return Err(self.refuse(fault)),
        };
        if let Err(fault) = self.spawn(stage, detector, start) {
            return Err(self.refuse(fault));
        }
        self.wait_ready()
    }

    /// The checks before any motion; returns where the axes are.
    fn check<S: Stage>(&self, stage: &mut S, detector: &dyn Detector) -> Result<StartPositions, ScanFault> {
        let plan = &self.request;
        let aborted = || if self.live.abort_requested() { Err(ScanFault::Aborted) } else { Ok(()) };
        aborted()?;
        if plan.trigger == TriggerMode::Continuous && !detector.self_timed() && plan.detector != super::plan::DetectorKind::Board {
            return Err(PlanError::new("trigger", "continuous needs a detector with its own sample time (board or external)").into());
        }
        let speeds = stage.speeds(plan.fast_axis)?;
        let vp = validate(plan, &speeds)?;
        if plan.differential && detector.excitation().is_none() {
            return Err(PlanError::new("differential", "needs a detector whose excitation can be muted (the board)").into());
        }
        aborted()?;
        let axes: Vec<Axis> = std::iter::once(plan.fast_axis).chain(plan.slow_axis).collect();
        for (&axis, motion) in axes.iter().zip(stage.motions(&axes)?) {
            match motion {
                AxisMotion::Idle => {}
                AxisMotion::Moving => return Err(ScanFault::AxisRefused { axis, refusal: AxisRefusal::Moving }),
                AxisMotion::Fault(latch) => return Err(ScanFault::AxisRefused { axis, refusal: AxisRefusal::Latched(latch) }),
            }
        }
        let fast_steps = stage.poll(plan.fast_axis)?.steps;
        self.live.set_fast(fast_steps as f64);
        let slow_steps = match plan.slow_axis {
            Some(sa) => Some(stage.poll(sa)?.steps),
            None => None,
        };
        if let Some(s) = slow_steps {
            self.live.set_slow(s as f64);
        }
        aborted()?;
        let _ = self.wire_limit_hz.set(stage.wire_limit_hz());
        let _ = self.plan.set(vp);
        Ok(StartPositions { fast_steps, slow_steps })
    }

    /// Starts the motion thread (the axes head for the start at once), allocates and faults in
    /// the record ring meanwhile, then starts the trigger thread (which arms the detector).
    fn spawn<S: Stage + 'static>(&self, stage: S, detector: Box<dyn Detector>, start: StartPositions) -> Result<(), ScanFault> {
        let plan = &self.request;
        let vp = self.plan.get().cloned().ok_or_else(|| ScanFault::engine("the plan was not validated"))?;
        let timing = stage.timing();
        let (tx, rx) = rtrb::RingBuffer::<Msg>::new(MSG_CAPACITY);
        let live_m = Arc::clone(&self.live);
        let excitation = detector.excitation();
        if let Some(x) = &excitation {
            let _ = self.excitation.set(Arc::clone(x));
        }
        let motion = std::thread::Builder::new()
            .name("aefi-motion".into())
            .spawn(move || motion_thread(stage, vp, start, live_m, tx, excitation))
            .map_err(|e| ScanFault::engine(format!("cannot start the motion thread: {e}")))?;
        let (writer, consumer, counters) = ring(plan.ring_capacity);
        self.live.attach_ring(counters);
        *lock(&self.consumer) = Some(consumer);
        let cfg = TriggerConfig {
            mode: plan.trigger,
            cadence: plan.cadence(),
            rate_hz: plan.sample_rate_hz,
            realtime: plan.realtime,
            speed_pps: plan.speed_pps,
            timing,
            lines: plan.flights(),
        };
        let live_rt = Arc::clone(&self.live);
        let trigger = match std::thread::Builder::new()
            .name("aefi-trigger".into())
            .spawn(move || run_trigger_loop(cfg, detector, rx, writer, live_rt))
        {
            Ok(h) => h,
            Err(e) => {
                // The axes may be moving: stop them before giving up.
                self.live.request_abort();
                let _ = motion.join();
                return Err(ScanFault::engine(format!("cannot start the trigger thread: {e}")));
            }
        };
        *lock(&self.threads) = Some(Threads { motion, trigger });
        Ok(())
    }

    /// Ends a scan refused before its threads ran; returns the fault.
    fn refuse(&self, fault: ScanFault) -> ScanFault {
        *lock(&self.refusal) = Some(fault.clone());
        self.live.end_without_threads(if fault == ScanFault::Aborted { ScanState::Aborted } else { ScanState::Failed });
        fault
    }

    fn wait_ready(&self) -> Result<(), ScanFault> {
        loop {
            let state = self.live.state();
            if state == ScanState::Ready {
                return Ok(());
            }
            if state.is_final() {
                return Err(self.join(None).error.unwrap_or(ScanFault::Aborted));
            }
            std::thread::sleep(Duration::from_micros(500));
        }
    }

    /// Lets a prepared scan fly; returns at once.
    ///
    /// # Errors
    /// [`ScanFault::Lifecycle`] unless the scan is ready (prepared, not kicked off, not ended);
    /// [`ScanFault::Aborted`] if an abort came first.
    pub fn kickoff(&self) -> Result<(), ScanFault> {
        match self.live.state() {
            ScanState::Ready => {}
            s if s.is_final() => return Err(ScanFault::lifecycle(format!("the scan already ended ({})", s.name()))),
            s => return Err(ScanFault::lifecycle(format!("kickoff needs a prepared scan; the scan is {}", s.name()))),
        }
        if self.live.abort_requested() {
            return Err(ScanFault::Aborted);
        }
        let now = self.live.now_ns().max(1);
        if self.live.t_kickoff_ns.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(ScanFault::lifecycle("the scan was already kicked off"));
        }
        if let Some(t) = lock(&self.threads).as_ref() {
            t.motion.thread().unpark();
        }
        Ok(())
    }

    /// The completion status of this scan.
    pub fn complete(self: &Arc<Self>) -> Completion {
        Completion { scan: Arc::clone(self) }
    }

    /// A snapshot of the live progress (lock-free reads of atomics).
    pub fn progress(&self) -> Progress {
        self.live.progress()
    }

    /// Moves up to `max` records (all available when None) out of the ring.
    pub fn drain(&self, max: Option<usize>) -> Columns {
        match lock(&self.consumer).as_mut() {
            Some(c) => drain_columns(c, max),
            None => Columns::default(),
        }
    }

    /// Requests an abort (any state); the motion thread sends ABORT at its next check.
    pub fn abort(&self) {
        self.live.request_abort();
    }

    /// True once the scan has ended and every record is in the ring.
    pub fn is_finished(&self) -> bool {
        self.live.state().is_final()
    }

    /// The validated plan (once `prepare` has validated it).
    pub fn plan(&self) -> Option<&ValidatedPlan> {
        self.plan.get()
    }

    /// Waits for the end (up to `timeout` on the scan's clock, then aborts and waits for the
    /// abort to finish) and returns the final statistics. Later calls return the same statistics.
    pub fn join(&self, timeout: Option<Duration>) -> ScanStats {
        if let Some(s) = lock(&self.stats).as_ref() {
            return s.clone();
        }
        if let Some(t) = timeout {
            let deadline = self.live.now_ns().saturating_add(t.as_nanos().min(i64::MAX as u128) as i64);
            while !self.is_finished() && self.live.now_ns() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !self.is_finished() {
                self.abort();
            }
        }
        while !self.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut stats_slot = lock(&self.stats);
        if let Some(s) = stats_slot.as_ref() {
            return s.clone();
        }
        let (mo, ro) = match lock(&self.threads).take() {
            Some(t) => (Some(t.motion.join()), Some(t.trigger.join())),
            None => (None, None),
        };
        let stats = self.compose(mo, ro);
        *stats_slot = Some(stats.clone());
        stats
    }

    fn compose(&self, mo: Option<std::thread::Result<MotionOutcome>>, ro: Option<std::thread::Result<TriggerOutcome>>) -> ScanStats {
        let live = &self.live;
        let now = live.now_ns();
        let _ = live.t_end_ns.compare_exchange(0, now, Ordering::AcqRel, Ordering::Acquire);
        let refusal = lock(&self.refusal).clone();
        let (mo, ro) = (mo.and_then(Result::ok), ro.and_then(Result::ok));
        let (mut state, mut error) = match (&refusal, &mo) {
            (Some(ScanFault::Aborted), _) => (ScanState::Aborted, None),
            (Some(f), _) => (ScanState::Failed, Some(f.clone())),
            (None, Some(m)) => (m.state, m.error.clone()),
            (None, None) => (ScanState::Failed, Some(ScanFault::engine("the motion thread panicked"))),
        };
        if refusal.is_none() {
            match &ro {
                Some(r) => {
                    if let (Some(e), None) = (&r.start_error, &error) {
                        state = ScanState::Failed;
                        error = Some(ScanFault::Detector(e.clone()));
                    }
                }
                None if error.is_none() => {
                    state = ScanState::Failed;
                    error = Some(ScanFault::engine("the trigger thread panicked"));
                }
                None => {}
            }
            if let Some(e) = live.detector_failure() {
                // the detector ended the scan (its link failed): the abort that stopped the
                // motors was the engine's, not the user's
                state = ScanState::Failed;
                error = Some(ScanFault::Detector(e));
            }
        }
        live.force_state(state);
        let ro = ro.unwrap_or(TriggerOutcome {
            lateness: None,
            missed: None,
            rate_limit_hz: None,
            rt: Default::default(),
            line_times: Vec::new(),
            detector_faults: 0,
            rejected_samples: 0,
            max_duration_ns: 0,
            flying_samples: 0,
            flying_ns: 0,
            start_error: None,
        });
        let link_retries = mo.as_ref().map_or(0, |m| m.link_retries);
        let (flying_ns, polls, abort_latency_ms, poll_wire_ns, physical_min_s) =
            mo.map(|m| (m.flying_ns, m.polls, m.abort_latency_ms, m.poll_wire_ns, m.physical_min_s)).unwrap_or((0, 0, None, 0.0, None));
        // The wire limit of the polls actually made (their frame sizes), else the link's figure.
        let wire_limit_hz = if poll_wire_ns > 0.0 {
            polls as f64 / (poll_wire_ns * 1e-9)
        } else {
            self.wire_limit_hz.get().copied().unwrap_or(f64::INFINITY)
        };
        let samples = live.samples.load(Ordering::Relaxed);
        let lines = live.lines_done.load(Ordering::Relaxed);
        let wall_time_s = live.working_s();
        let ready = live.t_ready_ns.load(Ordering::Acquire);
        let prepare_s = if ready > 0 { (ready - live.t_start_ns) as f64 * 1e-9 } else { wall_time_s };
        let completed = state == ScanState::Completed && wall_time_s > 0.0 && lines > 0;
        ScanStats {
            status: state,
            error,
            lines,
            samples,
            wall_time_s,
            prepare_s,
            physical_min_s,
            efficiency: physical_min_s.filter(|_| completed).map(|p| p / wall_time_s),
            overhead_per_line_ms: physical_min_s.filter(|_| completed).map(|p| (wall_time_s - p) / f64::from(lines) * 1e3),
            seed: self.request.seed,
            polls,
            poll_rate_hz: if flying_ns > 0 { polls as f64 / (flying_ns as f64 * 1e-9) } else { 0.0 },
            wire_limit_hz,
            cadence: self.request.cadence(),
            trigger_lateness_us: ro.lateness,
            missed_triggers: ro.missed,
            dropped_records: live.dropped_records(),
            sample_rate_hz: if ro.flying_ns > 0 && ro.flying_samples > 1 {
                (ro.flying_samples - ro.line_times.iter().filter(|l| l.samples > 0).count() as u64) as f64 / (ro.flying_ns as f64 * 1e-9)
            } else {
                0.0
            },
            detector_rate_limit_hz: match self.request.cadence() {
                Cadence::Triggered { rate_hz } | Cadence::HardwareClocked { rate_hz } => Some(rate_hz),
                Cadence::BackToBack => ro.rate_limit_hz,
            },
            smear_steps: self.request.speed_pps * ro.max_duration_ns as f64 * 1e-9,
            rt: ro.rt,
            line_times: ro.line_times,
            abort_latency_ms,
            detector_faults: ro.detector_faults,
            rejected_samples: ro.rejected_samples,
            link_retries,
            excitation: self.excitation_report(),
        }
    }

    /// What a differential scan did to the excitation (None for other scans).
    fn excitation_report(&self) -> Option<ExcitationReport> {
        self.request.differential.then(|| self.excitation.get().map(|x| x.report()).unwrap_or_default())
    }
}

impl Drop for Scan {
    fn drop(&mut self) {
        if lock(&self.threads).is_none() && !self.is_finished() {
            // never prepared (a prepare in progress holds a reference): nothing ran
            self.live.end_without_threads(ScanState::Aborted);
        }
        if !self.is_finished() {
            self.abort();
        }
        let _ = self.join(None);
    }
}

/// The status `complete()` gives: done when the last line is (or the scan ended otherwise).
#[derive(Debug, Clone)]
pub struct Completion {
    scan: Arc<Scan>,
}

impl Completion {
    /// True once the scan has ended and every record is in the ring.
    pub fn is_done(&self) -> bool {
        self.scan.is_finished()
    }

    /// Waits until done, at most `timeout` on the scan's clock (None: no limit); returns whether
    /// it is done. Never aborts.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.map(|t| self.scan.live.now_ns().saturating_add(t.as_nanos().min(i64::MAX as u128) as i64));
        loop {
            if self.is_done() {
                return true;
            }
            if deadline.is_some_and(|d| self.scan.live.now_ns() >= d) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Where the scan is.
    pub fn progress(&self) -> Progress {
        self.scan.progress()
    }

    /// The final statistics (waits for the end).
    pub fn stats(&self) -> ScanStats {
        self.scan.join(None)
    }
}

/// Runs scans one at a time, in four verbs; see the module documentation.
#[derive(Debug)]
pub struct Executor {
    clock: Arc<dyn Clock>,
    slot: Mutex<Option<Arc<Scan>>>,
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Executor {
    /// An executor on the monotonic clock (real links).
    pub fn new() -> Self {
        Self::with_clock(Arc::new(MonotonicClock))
    }

    /// An executor on `clock`, which must be the time base of the stages it will drive.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self { clock, slot: Mutex::new(None) }
    }

    fn current(&self) -> Result<Arc<Scan>, ScanFault> {
        lock(&self.slot).clone().ok_or_else(|| ScanFault::lifecycle("no scan was prepared on this executor"))
    }

    /// The current (or last) scan.
    pub fn scan(&self) -> Option<Arc<Scan>> {
        lock(&self.slot).clone()
    }

    /// Prepares a scan of `plan` on `stage` with `detector` ([`Scan::prepare`]); blocks until it
    /// is ready to fly. [`Executor::abort`] from another thread ends it, the move included.
    ///
    /// # Errors
    /// [`ScanFault::Lifecycle`] while another scan is prepared or running; else what
    /// [`Scan::prepare`] refuses with.
    pub fn prepare<S: Stage + 'static>(&self, plan: &FlyPlan, stage: S, detector: Box<dyn Detector>) -> Result<(), ScanFault> {
        let scan = {
            let mut slot = lock(&self.slot);
            if slot.as_ref().is_some_and(|s| !s.is_finished()) {
                return Err(ScanFault::lifecycle("a scan is already prepared or running on this executor; abort it or wait for its end"));
            }
            let scan = Arc::new(Scan::new(plan, Arc::clone(&self.clock)));
            *slot = Some(Arc::clone(&scan));
            scan
        };
        scan.prepare(stage, detector)
    }

    /// Lets the prepared scan fly; returns at once.
    ///
    /// # Errors
    /// [`ScanFault::Lifecycle`] unless a scan is ready; [`ScanFault::Aborted`] after an abort.
    pub fn kickoff(&self) -> Result<(), ScanFault> {
        self.current()?.kickoff()
    }

    /// The completion status of the current scan.
    ///
    /// # Errors
    /// [`ScanFault::Lifecycle`] when no scan was prepared.
    pub fn complete(&self) -> Result<Completion, ScanFault> {
        Ok(self.current()?.complete())
    }

    /// The records since the last call (at most `max`).
    ///
    /// # Errors
    /// [`ScanFault::Lifecycle`] when no scan was prepared.
    pub fn collect(&self, max: Option<usize>) -> Result<Columns, ScanFault> {
        Ok(self.current()?.drain(max))
    }

    /// Requests an abort of the current scan, whatever its state; no-op when there is none.
    pub fn abort(&self) {
        if let Some(s) = lock(&self.slot).as_ref() {
            s.abort();
        }
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        let scan = lock(&self.slot).take();
        if let Some(s) = scan {
            if !s.is_finished() {
                s.abort();
            }
            let _ = s.join(None);
        }
    }
}
