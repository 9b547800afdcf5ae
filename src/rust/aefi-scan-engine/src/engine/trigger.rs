//! The real-time trigger loop: paces the detector, positions each sample, pushes records.
//!
//! Runs on its own thread for the whole scan (SCHED_FIFO and a pinned core when permitted).
//! It owns the detector, the position model of the line in flight, the record writer and the
//! pacer. The motion thread talks to it through a wait-free SPSC ring of [`Msg`] (line start
//! with the commanded profile, each stamped poll, line end, finish). A sample is positioned once
//! a poll later than it has arrived (interpolation, not extrapolation), so records reach the ring
//! about one poll period after they were taken; at a line end the rest are positioned with what
//! the model has. Invariants: no lock, no allocation, no I/O in the loop (detectors do their I/O
//! on threads of their own: the board's serial round trips run on its I/O thread); every buffer
//! the loop writes is allocated and faulted in before the first tick, and the memory is locked
//! while a real-time loop runs (`engine::rt`); the loop never waits on the motion thread.
use super::detector::{Detector, DetectorError, Sample};
use super::model::{LinkTiming, Poll, PositionModel, Trapezoid};
use super::pacer::{make_realtime, LatenessUs, Pacer, RtReport};
use super::plan::{Cadence, LineSpec, TriggerMode};
use super::record::{flags, Record, RecordWriter, N_CHANNELS};
use super::rt::{prefault_spare, prefault_stack, rt_section, MemoryLock};
use super::stats::{LineTime, Live, ThreadDone};
use crate::clock::mono_ns;
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Messages from the motion thread to the trigger loop.
#[derive(Debug, Clone, Copy)]
pub enum Msg {
    /// A fly move was commanded.
    LineStart {
        /// The line.
        spec: LineSpec,
        /// The commanded profile.
        profile: Trapezoid,
        /// When the move command fully arrived (ns).
        t_cmd_ns: f64,
        /// Uncertainty of `t_cmd_ns` (ns).
        sigma_ns: f64,
    },
    /// A stamped position poll of the fast axis.
    Poll(Poll),
    /// The fly move ended.
    LineEnd,
    /// The scan ended; flush and stop.
    Finish,
}

/// Settings of the trigger loop.
#[derive(Debug, Clone, Copy)]
pub struct TriggerConfig {
    /// Trigger mode.
    pub mode: TriggerMode,
    /// The detector's cadence: lateness and missed triggers are kept only when it has a trigger
    /// schedule.
    pub cadence: Cadence,
    /// Software/hardware rate (Hz).
    pub rate_hz: f64,
    /// Try SCHED_FIFO and pinning.
    pub realtime: bool,
    /// Fly speed (pps), for the smear figure.
    pub speed_pps: f64,
    /// Link timing, for the position model.
    pub timing: LinkTiming,
    /// Lines in the plan (line timing is kept for each).
    pub lines: u32,
}

/// What the trigger loop hands back at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerOutcome {
    /// Lateness of the trigger deadlines (None: the cadence has no trigger schedule).
    pub lateness: Option<LatenessUs>,
    /// Trigger deadlines missed (None: the cadence has no trigger schedule).
    pub missed: Option<u64>,
    /// The detector's own limit (samples/s) when it sets its pace.
    pub rate_limit_hz: Option<f64>,
    /// RT set-up result.
    pub rt: RtReport,
    /// Per-line timing.
    pub line_times: Vec<LineTime>,
    /// Samples with a detector fault.
    pub detector_faults: u64,
    /// Samples the detector rejected (never recorded).
    pub rejected_samples: u64,
    /// Longest detector integration time (ns).
    pub max_duration_ns: i64,
    /// Samples taken while flying and the flying time (ns) they span.
    pub flying_samples: u64,
    /// Sum of line sampling durations (ns).
    pub flying_ns: i64,
    /// A detector that could not start.
    pub start_error: Option<DetectorError>,
}

/// Records waiting for polls after them; a full buffer is positioned early.
const PENDING_CAP: usize = 1 << 16;
/// How far (ns) the polls must reach past a sample before it is positioned.
const HOLD_NS: f64 = 200e6;

struct LineRun {
    spec: LineSpec,
    model: PositionModel,
    samples: u64,
    t_first: i64,
    t_last: i64,
}

impl LineRun {
    fn in_span(&self, steps: f64) -> bool {
        let d = self.spec.direction() * (steps - self.spec.span_from_steps as f64);
        d >= 0.0 && d <= (self.spec.span_to_steps - self.spec.span_from_steps).abs() as f64
    }
}

struct Loop {
    cfg: TriggerConfig,
    detector: Box<dyn Detector>,
    writer: RecordWriter,
    live: Arc<Live>,
    line: Option<LineRun>,
    pending: VecDeque<Record>,
    line_times: Vec<LineTime>,
    detector_faults: u64,
    max_duration_ns: i64,
    flying_samples: u64,
    flying_ns: i64,
    failed: bool,
}

impl Loop {
    fn finalize(&mut self, mut rec: Record) {
        if let Some(run) = &mut self.line {
            let e = run.model.estimate(rec.t_ns);
            rec.fast_steps = e.steps;
            rec.pos_err_steps = e.err_steps;
            rec.flags |= flags::ESTIMATED;
            if e.outside_cruise {
                rec.flags |= flags::OUTSIDE_CRUISE;
            }
            if e.extrapolated {
                rec.flags |= flags::EXTRAPOLATED;
            }
            if run.spec.baseline {
                rec.flags |= flags::BASELINE;
            }
            if run.samples == 0 {
                rec.flags |= flags::LINE_FIRST;
                run.t_first = rec.t_ns;
            }
            run.samples += 1;
            run.t_last = rec.t_ns;
        }
        self.writer.push(rec);
        self.live.samples.fetch_add(1, Ordering::Relaxed);
    }

    /// Positions the pending samples a poll has overtaken.
    fn flush_covered(&mut self) {
        // A sample waits until the fit has polls well after it (a window on both sides), not
        // just one: the first cruise polls alone leave the offset loose.
        let covered = match &self.line {
            Some(run) => run.model.last_poll_ns() - HOLD_NS,
            None => return,
        };
        // The newest record stays back so that the line end can still flag it as the last.
        while self.pending.len() > 1 && self.pending.front().is_some_and(|r| (r.t_ns as f64) <= covered) {
            if let Some(r) = self.pending.pop_front() {
                self.finalize(r);
            }
        }
    }

    fn end_line(&mut self) {
        let n = self.pending.len();
        for k in 0..n {
            if let Some(mut r) = self.pending.pop_front() {
                if k + 1 == n {
                    r.flags |= flags::LINE_LAST;
                }
                self.finalize(r);
            }
        }
        if let Some(run) = self.line.take() {
            self.flying_samples += run.samples;
            if run.samples > 1 {
                self.flying_ns += run.t_last - run.t_first;
            }
            if self.line_times.len() < self.line_times.capacity() {
                self.line_times.push(LineTime {
                    line: run.spec.index,
                    t_start_ns: run.t_first,
                    t_end_ns: run.t_last,
                    samples: run.samples,
                });
            }
        }
    }

    /// Handles every message available; returns true on `Finish`.
    fn handle_msgs(&mut self, msgs: &mut rtrb::Consumer<Msg>) -> bool {
        while let Ok(m) = msgs.pop() {
            match m {
                Msg::LineStart { spec, profile, t_cmd_ns, sigma_ns } => {
                    self.end_line();
                    self.live.set_slow(spec.slow_steps as f64);
                    self.line = Some(LineRun {
                        spec,
                        model: PositionModel::new(profile, self.cfg.timing, t_cmd_ns, sigma_ns),
                        samples: 0,
                        t_first: 0,
                        t_last: 0,
                    });
                }
                Msg::Poll(p) => {
                    if let Some(run) = &mut self.line {
                        run.model.add_poll(&p);
                    }
                }
                Msg::LineEnd => self.end_line(),
                Msg::Finish => {
                    self.end_line();
                    return true;
                }
            }
        }
        msgs.is_abandoned() && msgs.is_empty()
    }

    fn take(&mut self, sample: Result<Option<Sample>, DetectorError>, t_trig: i64, extra_flags: u32) -> bool {
        let (t_ns, volts, fault, dur) = match sample {
            Ok(Some(s)) => (s.t_ns, s.volts, false, s.duration_ns),
            Ok(None) => return false,
            Err(e) if e.fatal => {
                // the detector's link is gone: stop the scan; nothing more is sampled
                self.failed = true;
                self.live.fail_detector(e);
                return false;
            }
            Err(_) => (t_trig, [f64::NAN; N_CHANNELS], true, 0),
        };
        let Some(run) = &self.line else { return true };
        if !run.in_span(run.model.estimate(t_ns).steps) {
            return true;
        }
        self.max_duration_ns = self.max_duration_ns.max(dur);
        let mut f = extra_flags;
        if fault {
            f |= flags::DETECTOR_FAULT;
            self.detector_faults += 1;
        }
        let rec =
            Record { t_ns, line: run.spec.index, slow_steps: run.spec.slow_steps as f64, channels: volts, flags: f, ..Record::default() };
        if self.pending.len() >= PENDING_CAP {
            if let Some(old) = self.pending.pop_front() {
                self.finalize(old);
            }
        }
        self.pending.push_back(rec);
        true
    }
}

/// Runs the trigger loop until the motion thread says `Finish` (or disappears).
pub fn run_trigger_loop(
    cfg: TriggerConfig,
    detector: Box<dyn Detector>,
    mut msgs: rtrb::Consumer<Msg>,
    writer: RecordWriter,
    live: Arc<Live>,
) -> TriggerOutcome {
    let live_done = Arc::clone(&live);
    let _done = ThreadDone(&live_done);
    let mut rt = if cfg.realtime { make_realtime(50) } else { RtReport { detail: "not requested".into(), ..RtReport::default() } };
    // Everything the loop writes is allocated and faulted in here, before the first tick.
    let mut pending = VecDeque::with_capacity(PENDING_CAP);
    pending.resize(PENDING_CAP, Record::default());
    pending.clear();
    let mut line_times = Vec::with_capacity(cfg.lines as usize);
    let mut prefaulted = writer.prefaulted_bytes() + PENDING_CAP * std::mem::size_of::<Record>() + prefault_spare(&mut line_times);
    prefaulted += prefault_stack();
    let mut lp = Loop {
        cfg,
        detector,
        writer,
        live,
        line: None,
        pending,
        line_times,
        detector_faults: 0,
        max_duration_ns: 0,
        flying_samples: 0,
        flying_ns: 0,
        failed: false,
    };
    let start_error = lp.detector.begin().err();
    match &start_error {
        // Nothing can be sampled: the motion stops and the scan ends failed.
        Some(e) => lp.live.fail_detector(DetectorError { fatal: true, ..e.clone() }),
        None => lp.live.set_armed(),
    }
    let self_timed = lp.detector.self_timed();
    // Self-timed and continuous detectors are still visited on a 1 kHz beat when idle; that beat
    // is no trigger schedule and is not reported as one.
    let rate = match cfg.mode {
        TriggerMode::Software | TriggerMode::Hardware if !self_timed => cfg.rate_hz,
        _ => 1000.0,
    };
    let mut pacer = Pacer::new(0, rate).ok();
    prefaulted += pacer.as_mut().map_or(0, Pacer::prefault);
    let paced = matches!(cfg.mode, TriggerMode::Software | TriggerMode::Hardware) && !self_timed;
    rt.prefaulted_bytes = prefaulted as u64;
    // With real-time scheduling, the resident memory (the buffers above included) stays in RAM
    // until the loop ends.
    let memory_lock = rt.fifo.then(|| {
        let (lock, detail) = MemoryLock::acquire();
        rt.mlocked = lock.locked();
        rt.detail = format!("{}; {detail}", rt.detail);
        lock
    });
    rt.detail = format!("{}; {:.1} MB faulted in before the loop", rt.detail, prefaulted as f64 / 1e6);
    if let Some(p) = &mut pacer {
        p.start_at(mono_ns() + 1_000_000);
    }
    if start_error.is_none() {
        loop {
            // No lock, no allocation, no I/O in here (rt_section checks it in the tests).
            let finished = rt_section(|| {
                let (t_trig, missed) = match (&mut pacer, paced || lp.line.is_none() || self_timed) {
                    (Some(p), true) => {
                        let tick = p.wait();
                        // Hardware: the external clock's edges are on the schedule from the
                        // stamped start edge, whenever the loop gets to read them.
                        let t = if cfg.mode == TriggerMode::Hardware { tick.deadline_ns } else { tick.now_ns };
                        (t, tick.missed_before)
                    }
                    _ => (mono_ns(), 0),
                };
                if lp.handle_msgs(&mut msgs) {
                    return true;
                }
                let missed_flag = if missed > 0 && cfg.mode == TriggerMode::Software { flags::MISSED_DEADLINE } else { 0 };
                if lp.line.is_some() && !lp.failed {
                    if self_timed {
                        loop {
                            let s = lp.detector.acquire(t_trig);
                            if !lp.take(s, t_trig, 0) {
                                break;
                            }
                        }
                    } else {
                        let s = lp.detector.acquire(t_trig);
                        lp.take(s, t_trig, missed_flag);
                    }
                }
                lp.flush_covered();
                false
            });
            if finished {
                break;
            }
        }
    }
    lp.end_line();
    lp.detector.end();
    drop(memory_lock);
    // Lateness and misses against the trigger deadlines, where the cadence has them; a
    // back-to-back or externally clocked detector has no schedule to be late for.
    let (lateness, missed) = match &pacer {
        Some(p) if paced && cfg.cadence.has_trigger_schedule() => (Some(LatenessUs::of(p.lateness())), Some(p.missed())),
        _ => (None, None),
    };
    let rate_limit_hz = lp.detector.rate_limit_hz();
    TriggerOutcome {
        lateness,
        missed,
        rate_limit_hz,
        rt,
        line_times: lp.line_times,
        detector_faults: lp.detector_faults,
        rejected_samples: lp.detector.rejected(),
        max_duration_ns: lp.max_duration_ns,
        flying_samples: lp.flying_samples,
        flying_ns: lp.flying_ns,
        start_error,
    }
}
