//! Scan state, live progress and final statistics (docs/architecture.md "Progress and statistics").
//!
//! Live values are atomics written by the scan threads and read by anyone (`progress()` at any
//! rate never blocks the real-time thread). Final statistics are assembled once, at join, from
//! what each thread hands back.
use super::fault::ScanFault;
use super::pacer::{LatenessUs, RtReport};
use super::plan::Cadence;
use super::record::RingCounters;
use crate::clock::Clock;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

/// Where a scan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ScanState {
    /// Created, not prepared.
    Idle = 0,
    /// Checking the plan and the axes, arming the detector.
    Preparing = 1,
    /// Axes going to the run-up start of the first line.
    MovingToStart = 2,
    /// At the start, detector armed: waiting for `kickoff`.
    Ready = 3,
    /// A line is flying.
    Flying = 4,
    /// Moving to the next line.
    BetweenLines = 5,
    /// Stopping after an abort or fault.
    Stopping = 6,
    /// Every line done.
    Completed = 7,
    /// Ended by an abort request.
    Aborted = 8,
    /// Ended by a fault.
    Failed = 9,
}

impl ScanState {
    /// The contract's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            ScanState::Idle => "idle",
            ScanState::Preparing => "preparing",
            ScanState::MovingToStart => "moving_to_start",
            ScanState::Ready => "ready",
            ScanState::Flying => "flying",
            ScanState::BetweenLines => "between_lines",
            ScanState::Stopping => "stopping",
            ScanState::Completed => "completed",
            ScanState::Aborted => "aborted",
            ScanState::Failed => "failed",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => ScanState::Preparing,
            2 => ScanState::MovingToStart,
            3 => ScanState::Ready,
            4 => ScanState::Flying,
            5 => ScanState::BetweenLines,
            6 => ScanState::Stopping,
            7 => ScanState::Completed,
            8 => ScanState::Aborted,
            9 => ScanState::Failed,
            _ => ScanState::Idle,
        }
    }

    /// True for the three end states.
    pub fn is_final(self) -> bool {
        matches!(self, ScanState::Completed | ScanState::Aborted | ScanState::Failed)
    }
}

/// Live values shared by the scan threads and the reader of progress.
#[derive(Debug)]
pub struct Live {
    state: AtomicU8,
    /// Set by `abort()`; checked by the scan threads every tick.
    pub abort: AtomicBool,
    /// When the abort was requested (monotonic ns, 0 = never).
    pub abort_requested_ns: AtomicI64,
    /// Lines completed.
    pub lines_done: AtomicU32,
    /// Line being flown (or next).
    pub current_line: AtomicU32,
    /// Samples recorded (pushed or dropped).
    pub samples: AtomicU64,
    /// Position polls made during flight.
    pub polls: AtomicU64,
    fast_bits: AtomicU64,
    slow_bits: AtomicU64,
    /// The scan's time base.
    clock: Arc<dyn Clock>,
    /// Start of `prepare` (ns).
    pub t_start_ns: i64,
    /// Scan end (ns, 0 while running).
    pub t_end_ns: AtomicI64,
    /// When the scan became ready (ns, 0 until then).
    pub t_ready_ns: AtomicI64,
    /// When `kickoff` let it fly (ns, 0 until then).
    pub t_kickoff_ns: AtomicI64,
    /// The detector is armed (set by the trigger thread once its detector has begun).
    armed: AtomicBool,
    /// Ring counters (pushed, dropped), once `prepare` has allocated the ring.
    ring: OnceLock<Arc<RingCounters>>,
    /// Lines in the plan.
    pub lines_total: u32,
    /// A fatal detector failure (it also requests the abort that stops the motors).
    detector_failure: std::sync::Mutex<Option<super::detector::DetectorError>>,
    /// The end state the motion thread reached (0 until then).
    final_state: AtomicU8,
    /// Scan threads that have ended (the last one publishes the end state).
    finishers: AtomicU8,
}

/// Scan threads whose end publishes the end state (motion and trigger).
const SCAN_THREADS: u8 = 2;

/// Marks a scan thread's end when dropped, also when the thread unwinds from a panic.
#[derive(Debug)]
pub struct ThreadDone<'a>(pub &'a Live);

impl Drop for ThreadDone<'_> {
    fn drop(&mut self) {
        self.0.thread_done();
    }
}

impl Live {
    /// Fresh live values for a scan of `lines_total` lines, timed by `clock`.
    pub fn new(lines_total: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            state: AtomicU8::new(ScanState::Preparing as u8),
            abort: AtomicBool::new(false),
            abort_requested_ns: AtomicI64::new(0),
            lines_done: AtomicU32::new(0),
            current_line: AtomicU32::new(0),
            samples: AtomicU64::new(0),
            polls: AtomicU64::new(0),
            fast_bits: AtomicU64::new(f64::NAN.to_bits()),
            slow_bits: AtomicU64::new(f64::NAN.to_bits()),
            t_start_ns: clock.now_ns(),
            clock,
            t_end_ns: AtomicI64::new(0),
            t_ready_ns: AtomicI64::new(0),
            t_kickoff_ns: AtomicI64::new(0),
            armed: AtomicBool::new(false),
            ring: OnceLock::new(),
            lines_total,
            detector_failure: std::sync::Mutex::new(None),
            final_state: AtomicU8::new(0),
            finishers: AtomicU8::new(0),
        }
    }

    /// The scan's time base.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Now on the scan's clock (ns).
    pub fn now_ns(&self) -> i64 {
        self.clock.now_ns()
    }

    /// Attaches the record ring's counters (once, when `prepare` allocates the ring).
    pub fn attach_ring(&self, counters: Arc<RingCounters>) {
        let _ = self.ring.set(counters);
    }

    /// Records dropped by a full ring so far.
    pub fn dropped_records(&self) -> u64 {
        self.ring.get().map_or(0, |r| r.dropped.load(Ordering::Relaxed))
    }

    /// The trigger thread's detector has begun: the scan may fly once the axes are at the start.
    pub fn set_armed(&self) {
        self.armed.store(true, Ordering::Release);
    }

    /// Whether the detector is armed.
    pub fn armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// Ends a scan that never started its threads (refused by `prepare`): `s` at once.
    pub fn end_without_threads(&self, s: ScanState) {
        let _ = self.t_end_ns.compare_exchange(0, self.clock.now_ns(), Ordering::AcqRel, Ordering::Acquire);
        self.force_state(s);
    }

    /// Seconds the scan worked: `prepare` to the end, less the wait between ready and kickoff.
    pub fn working_s(&self) -> f64 {
        let end = match self.t_end_ns.load(Ordering::Acquire) {
            0 => self.clock.now_ns(),
            t => t,
        };
        let (ready, kickoff) = (self.t_ready_ns.load(Ordering::Acquire), self.t_kickoff_ns.load(Ordering::Acquire));
        let idle = if ready > 0 && kickoff >= ready { kickoff - ready } else { 0 };
        (end - self.t_start_ns - idle) as f64 * 1e-9
    }

    /// The motion thread's end state (published once both scan threads have ended).
    pub fn set_final(&self, s: ScanState) {
        self.final_state.store(s as u8, Ordering::Release);
    }

    /// One scan thread ended; the last one publishes the end state, so an end state seen by
    /// `progress()` means every record of the scan is in the ring.
    pub fn thread_done(&self) {
        if self.finishers.fetch_add(1, Ordering::AcqRel) + 1 == SCAN_THREADS {
            let mut s = ScanState::from_u8(self.final_state.load(Ordering::Acquire));
            if !s.is_final() || self.detector_failure().is_some() {
                s = ScanState::Failed;
            }
            let _ = self.t_end_ns.compare_exchange(0, self.clock.now_ns(), Ordering::AcqRel, Ordering::Acquire);
            self.force_state(s);
        }
    }

    /// Sets the state even over an end state (join's final word).
    pub fn force_state(&self, s: ScanState) {
        self.state.store(s as u8, Ordering::Release);
    }

    /// Records a fatal detector failure (the first one is kept) and requests the abort.
    pub fn fail_detector(&self, e: super::detector::DetectorError) {
        let mut slot = self.detector_failure.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
        drop(slot);
        self.request_abort();
    }

    /// The fatal detector failure, if any.
    pub fn detector_failure(&self) -> Option<super::detector::DetectorError> {
        self.detector_failure.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Current state.
    pub fn state(&self) -> ScanState {
        ScanState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves to `s` unless the scan already ended (an end state is final).
    pub fn set_state(&self, s: ScanState) {
        let _ = self.state.fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
            if ScanState::from_u8(cur).is_final() {
                None
            } else {
                Some(s as u8)
            }
        });
    }

    /// Latest fast-axis position (steps).
    pub fn set_fast(&self, v: f64) {
        self.fast_bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Latest slow-axis position (steps).
    pub fn set_slow(&self, v: f64) {
        self.slow_bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Whether an abort was requested.
    pub fn abort_requested(&self) -> bool {
        self.abort.load(Ordering::Acquire)
    }

    /// Requests an abort (idempotent; the first request's instant is kept).
    pub fn request_abort(&self) {
        let _ = self.abort_requested_ns.compare_exchange(0, self.clock.now_ns(), Ordering::AcqRel, Ordering::Acquire);
        self.abort.store(true, Ordering::Release);
    }

    /// A snapshot for `progress()`.
    pub fn progress(&self) -> Progress {
        let end = self.t_end_ns.load(Ordering::Acquire);
        let now = if end > 0 { end } else { self.clock.now_ns() };
        Progress {
            state: self.state(),
            lines_done: self.lines_done.load(Ordering::Relaxed),
            lines_total: self.lines_total,
            current_line: self.current_line.load(Ordering::Relaxed),
            samples: self.samples.load(Ordering::Relaxed),
            fast_steps: f64::from_bits(self.fast_bits.load(Ordering::Relaxed)),
            slow_steps: f64::from_bits(self.slow_bits.load(Ordering::Relaxed)),
            elapsed_s: (now - self.t_start_ns) as f64 * 1e-9,
            dropped_records: self.dropped_records(),
        }
    }
}

/// What `progress()` returns.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// State.
    pub state: ScanState,
    /// Lines completed.
    pub lines_done: u32,
    /// Lines in the plan.
    pub lines_total: u32,
    /// Line being flown.
    pub current_line: u32,
    /// Samples so far.
    pub samples: u64,
    /// Latest fast position (steps; NaN before the first poll).
    pub fast_steps: f64,
    /// Latest slow position (steps).
    pub slow_steps: f64,
    /// Seconds since start.
    pub elapsed_s: f64,
    /// Records dropped by a full ring.
    pub dropped_records: u64,
}

/// Timing of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTime {
    /// Line index.
    pub line: u32,
    /// First sample instant (ns; 0 when the line had none).
    pub t_start_ns: i64,
    /// Last sample instant (ns).
    pub t_end_ns: i64,
    /// Samples in the line.
    pub samples: u64,
}

/// Final statistics of a scan (`join()`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScanStats {
    /// End state (completed/aborted/failed).
    pub status: ScanState,
    /// The fault of a failed scan.
    pub error: Option<ScanFault>,
    /// Lines completed.
    pub lines: u32,
    /// Samples recorded.
    pub samples: u64,
    /// Wall time (s): from the start of `prepare` to the end, less the wait for `kickoff`.
    pub wall_time_s: f64,
    /// Time `prepare` took (s): checks, the move to the start, arming.
    pub prepare_s: f64,
    /// The plan's physical minimum (s, [`super::physics`]); None when the slow axis' speeds
    /// could not be read.
    pub physical_min_s: Option<f64>,
    /// Physical minimum / wall time, for a completed scan.
    pub efficiency: Option<f64>,
    /// Mean time per line beyond the physical minimum (ms), for a completed scan.
    pub overhead_per_line_ms: Option<f64>,
    /// The seed of the simulated noise, when the plan had one.
    pub seed: Option<u64>,
    /// Polls made while flying.
    pub polls: u64,
    /// Poll rate while flying (Hz).
    pub poll_rate_hz: f64,
    /// Wire limit of the link (polls/s).
    pub wire_limit_hz: f64,
    /// How the detector was paced.
    pub cadence: Cadence,
    /// Trigger lateness against the deadline schedule (None: the cadence has no trigger schedule,
    /// as for the board read back to back or an externally clocked DAQ).
    pub trigger_lateness_us: Option<LatenessUs>,
    /// Trigger deadlines missed (None: no trigger schedule).
    pub missed_triggers: Option<u64>,
    /// Records dropped by a full ring.
    pub dropped_records: u64,
    /// Effective sample rate while flying (Hz): the detector's achieved rate.
    pub sample_rate_hz: f64,
    /// The most samples a second the detector's cadence allows: the trigger or clock rate, or for
    /// a detector at its own pace its own model (the board's timing model at the plan's averaging).
    pub detector_rate_limit_hz: Option<f64>,
    /// Position smear of one sample (speed × integration time, steps).
    pub smear_steps: f64,
    /// What the RT set-up obtained.
    pub rt: RtReport,
    /// Per-line timing.
    pub line_times: Vec<LineTime>,
    /// Abort request → ABORT on the wire (ms), when aborted.
    pub abort_latency_ms: Option<f64>,
    /// Detector samples that failed (NaN channels).
    pub detector_faults: u64,
    /// Detector samples rejected as invalid (a board reply that did not parse); never recorded.
    pub rejected_samples: u64,
    /// Position or status queries asked again after a timeout or a garbled reply.
    pub link_retries: u64,
    /// What a differential scan did to the excitation (None for other scans).
    pub excitation: Option<super::detector::ExcitationReport>,
}
