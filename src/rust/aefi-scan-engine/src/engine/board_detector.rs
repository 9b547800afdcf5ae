//! The AEFI acquisition board as the flyscan's detector: sampled on its own I/O thread, delivered
//! to the trigger thread through a wait-free ring.
//!
//! Each sample is one `m<n>*` transaction stamped at send and receive; the sample instant is
//! the middle of the MCU's averaging window placed by the board's timing model
//! (`board::timing`), and the sample's duration is that window (the spatial smear is speed ×
//! window). The serial round trips (~11 ms each at one average) run on the detector's **I/O
//! thread**, never on the real-time thread: `acquire` only pops what the I/O thread has
//! finished (no lock, no allocation, no system call), so a stalled reply never holds the
//! trigger loop up. The detector is *self-timed*: its samples carry their own instants and the
//! trigger loop takes them as they arrive.
//!
//! The I/O thread samples while the trigger loop asks for samples (a line is in flight: it
//! calls `acquire` on every beat) and rests otherwise; a sample whose command went out before
//! the current stretch of demand began (the tail of the previous line) is dropped, never
//! recorded. [`BoardSampling`] sets the pace: back to back (the wire's limit) or a software
//! trigger rate (absolute deadlines).
//!
//! The link is the scan's for its whole duration: the I/O thread owns the lent driver and
//! hands it back when it stops; dropping the detector (any ending of the scan) stops the
//! thread and drops the driver, which returns the link to its owner.
//!
//! Excitation (differential scans): the motion thread asks for the excitation muted or on through
//! [`ExcitationControl`]; the I/O thread writes the AD9106 gain registers of DDS1/DDS2 (0 to mute,
//! the gains back to unmute; phase and frequency registers are never written) between two
//! transactions and stamps the instant the last write was acknowledged, from which the motion
//! thread counts the settle time. When the I/O thread stops (every ending of the scan, faults
//! included) it writes the gains back if it had touched them and they are not on.
//!
//! Faults: a reply that does not parse (garbage, fewer codes, a refused command) is **never
//! recorded**: it is counted in [`BoardDetector::rejected`]. So is a reply that misses its
//! deadline (during a scan the deadline is [`SCAN_DEADLINE_FACTOR`] × the model's round trip, at
//! least [`MIN_SCAN_DEADLINE_NS`], never more than the driver's own), unless
//! [`MAX_CONSECUTIVE_TIMEOUTS`] come in a row. A lost link (unplugged board, too many timeouts)
//! is fatal: `acquire` reports it, the scan stops the motors and keeps the lines already
//! acquired.
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::detector::{Detector, DetectorError, DetectorErrorKind, ExcitationReport, ExcitationSwitch, Sample};
use super::pacer::{fifo_priority, sleep_until};
use crate::board::driver::{BoardDriver, BoardError};
use crate::board::registers::addr;
use crate::clock::mono_ns;
use crate::transport::{ByteLink, TransportError};

/// Deadline of a board reply during a scan, in model round trips.
pub const SCAN_DEADLINE_FACTOR: i64 = 4;
/// Shortest deadline of a board reply during a scan (ns).
pub const MIN_SCAN_DEADLINE_NS: i64 = 50_000_000;
/// Timeouts in a row after which the board counts as gone.
pub const MAX_CONSECUTIVE_TIMEOUTS: u32 = 3;
/// Samples the ring from the I/O thread holds (the trigger loop empties it every beat; this is
/// 45 s of board samples at ~90 per second).
pub const SAMPLE_RING: usize = 1 << 12;
/// The I/O thread samples while the trigger loop asked for a sample this recently (ns), and a
/// longer pause starts a new stretch of demand. Long enough that a loop descheduled on a busy
/// machine (no real-time scheduling) does not pause the board; shorter than any line change
/// (slow-axis step and run-up), whose samples it keeps out of the next line.
pub const DEMAND_HOLD_NS: i64 = 250_000_000;
/// Bytes of a data line in the timing model's rate figures: the fit's nominal 70 (74 bytes on
/// the wire with the 4-byte command; `board::timing`).
pub const MODEL_DATA_BYTES: usize = crate::board::timing::FIT_NOMINAL_BYTES - 4;
/// SCHED_FIFO priority the I/O thread asks for, below the trigger thread's 50: it sleeps on the
/// link almost all the time, and on a loaded machine an ordinary thread can be woken tens of
/// milliseconds after its reply came, which leaves a hole of several samples in a line.
pub const IO_THREAD_PRIORITY: i32 = 40;
/// How often a resting I/O thread looks for demand (ns).
const IDLE_POLL_NS: i64 = 1_000_000;

/// Counters the scan reports after the end.
#[derive(Debug, Default)]
pub struct BoardCounters {
    /// Samples whose reply did not parse or came too late (not recorded).
    pub rejected: AtomicU64,
    /// Samples delivered to the trigger loop.
    pub accepted: AtomicU64,
    /// Samples taken before the current stretch of demand began (dropped, never recorded).
    pub stale: AtomicU64,
    /// Samples lost because the ring to the trigger loop was full.
    pub overflowed: AtomicU64,
}

/// The excitation switch of a board detector, shared by the motion thread (requests) and the I/O
/// thread (register writes). Not on the real-time thread: a short lock is fine.
#[derive(Debug)]
pub struct ExcitationControl {
    want_on: AtomicBool,
    is_on: AtomicBool,
    applied_ns: AtomicI64,
    report: Mutex<ExcitationReport>,
}

impl ExcitationControl {
    fn new(gains: [u16; 2]) -> Self {
        Self {
            want_on: AtomicBool::new(true),
            is_on: AtomicBool::new(true),
            applied_ns: AtomicI64::new(0),
            report: Mutex::new(ExcitationReport { gains, ..ExcitationReport::default() }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ExcitationReport> {
        // plain assignments only: a poisoned lock is still consistent
        self.report.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ExcitationSwitch for ExcitationControl {
    fn request(&self, on: bool) {
        self.want_on.store(on, Ordering::Release);
    }

    fn applied(&self, on: bool) -> Result<Option<i64>, String> {
        if let Some(e) = self.lock().error.clone() {
            return Err(e);
        }
        if self.want_on.load(Ordering::Acquire) == on && self.is_on.load(Ordering::Acquire) == on {
            return Ok(Some(self.applied_ns.load(Ordering::Acquire)));
        }
        Ok(None)
    }

    fn report(&self) -> ExcitationReport {
        self.lock().clone()
    }
}

/// How the I/O thread paces the board.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoardSampling {
    /// One transaction after the other (the continuous trigger).
    BackToBack,
    /// At most `rate_hz` transactions a second, on absolute deadlines (the software trigger;
    /// a board slower than the rate runs back to back).
    Paced {
        /// Trigger rate (Hz).
        rate_hz: f64,
    },
}

/// What the I/O thread hands the trigger loop.
#[derive(Debug)]
enum Outcome {
    Sample { sample: Sample, t_send_ns: i64 },
    Fatal(DetectorError),
}

/// State shared by the trigger loop and the I/O thread (atomics only).
#[derive(Debug, Default)]
struct Shared {
    /// The scan began (`begin`): the I/O thread may set its scan deadline.
    begun: AtomicBool,
    /// Stop sampling and hand the driver back.
    stop: AtomicBool,
    /// Last instant the trigger loop asked for a sample (0: never).
    demand_ns: AtomicI64,
}

/// The board detector over a lent (or owned) driver.
pub struct BoardDetector<D: Send + 'static> {
    shared: Arc<Shared>,
    counters: Arc<BoardCounters>,
    results: Option<rtrb::Consumer<Outcome>>,
    io: Option<JoinHandle<D>>,
    spawn_error: Option<String>,
    /// The start of the current stretch of demand (the trigger loop's side).
    stretch_start_ns: i64,
    last_demand_ns: i64,
    /// Samples a second the timing model allows back to back (one round trip each).
    rate_limit_hz: f64,
    excitation: Arc<ExcitationControl>,
}

impl<D: Send + 'static> std::fmt::Debug for BoardDetector<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoardDetector").field("counters", &self.counters).field("running", &self.io.is_some()).finish()
    }
}

impl<L: ByteLink, D: DerefMut<Target = BoardDriver<L>> + Send + 'static> BoardDetector<D> {
    /// Samples `driver` back to back with `n_avg` MCU averages per sample.
    pub fn new(driver: D, n_avg: u32) -> Self {
        Self::with_sampling(driver, n_avg, BoardSampling::BackToBack)
    }

    /// Samples `driver` with `n_avg` MCU averages per sample, paced by `sampling`. The I/O thread
    /// starts here (not on the real-time thread) and waits for the trigger loop's demand.
    pub fn with_sampling(driver: D, n_avg: u32, sampling: BoardSampling) -> Self {
        Self::with_excitation(driver, n_avg, sampling, [10_000, 10_000])
    }

    /// As [`BoardDetector::with_sampling`]; `gains` are the DDS1/DDS2 words an unmute writes back
    /// when the driver was never configured (a configured driver's own words win).
    pub fn with_excitation(driver: D, n_avg: u32, sampling: BoardSampling, gains: [u16; 2]) -> Self {
        let gains = driver.config().map_or(gains, |c| [c.dds[0].gain, c.dds[1].gain]);
        let excitation = Arc::new(ExcitationControl::new(gains));
        let round_trip_ns = driver.timing().round_trip_ns(n_avg, MODEL_DATA_BYTES);
        let rate_limit_hz = if round_trip_ns > 0 { 1e9 / round_trip_ns as f64 } else { f64::INFINITY };
        let shared = Arc::new(Shared::default());
        let counters = Arc::new(BoardCounters::default());
        let (tx, rx) = rtrb::RingBuffer::new(SAMPLE_RING);
        let io = {
            let (shared, counters, excitation) = (Arc::clone(&shared), Arc::clone(&counters), Arc::clone(&excitation));
            std::thread::Builder::new().name("aefi-board-io".into()).spawn(move || {
                IoThread { driver, n_avg, sampling, shared, counters, tx, timeouts_in_row: 0, excitation, touched: false, gains }.run()
            })
        };
        let (io, spawn_error) = match io {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Self {
            shared,
            counters,
            results: Some(rx),
            io,
            spawn_error,
            stretch_start_ns: 0,
            last_demand_ns: i64::MIN / 2,
            rate_limit_hz,
            excitation,
        }
    }
}

impl<D: Send + 'static> BoardDetector<D> {
    /// Shared counters (read them after the scan).
    pub fn counters(&self) -> Arc<BoardCounters> {
        Arc::clone(&self.counters)
    }

    /// Samples rejected so far.
    pub fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }

    /// Stops the I/O thread and takes the driver back (`None` if the thread could not start or
    /// panicked).
    pub fn into_driver(mut self) -> Option<D> {
        self.stop_io()
    }

    fn stop_io(&mut self) -> Option<D> {
        self.shared.stop.store(true, Ordering::Release);
        self.results = None;
        self.io.take().and_then(|h| h.join().ok())
    }
}

impl<D: Send + 'static> Drop for BoardDetector<D> {
    fn drop(&mut self) {
        // the driver drops here, after the thread stopped: a lent link goes home
        drop(self.stop_io());
    }
}

impl<D: Send + 'static> Detector for BoardDetector<D> {
    fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }

    fn self_timed(&self) -> bool {
        true
    }

    fn rate_limit_hz(&self) -> Option<f64> {
        Some(self.rate_limit_hz)
    }

    fn excitation(&self) -> Option<Arc<dyn ExcitationSwitch>> {
        Some(Arc::clone(&self.excitation) as Arc<dyn ExcitationSwitch>)
    }

    fn begin(&mut self) -> Result<(), DetectorError> {
        if let Some(e) = &self.spawn_error {
            return Err(DetectorError::fatal(DetectorErrorKind::Device, format!("cannot start the board's I/O thread: {e}")));
        }
        self.shared.begun.store(true, Ordering::Release);
        Ok(())
    }

    fn end(&mut self) {
        self.shared.demand_ns.store(0, Ordering::Release);
    }

    /// Takes the next sample the I/O thread finished, if any. Wait-free: two atomic stores and a
    /// ring pop.
    fn acquire(&mut self, t_ns: i64) -> Result<Option<Sample>, DetectorError> {
        if t_ns - self.last_demand_ns > DEMAND_HOLD_NS {
            // a new stretch (a new line): what was sampled before it is not this line's
            self.stretch_start_ns = t_ns;
        }
        self.last_demand_ns = t_ns;
        self.shared.demand_ns.store(t_ns, Ordering::Release);
        let Some(results) = self.results.as_mut() else { return Ok(None) };
        while let Ok(outcome) = results.pop() {
            match outcome {
                Outcome::Sample { t_send_ns, .. } if t_send_ns < self.stretch_start_ns => {
                    self.counters.stale.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Sample { sample, .. } => {
                    self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(sample));
                }
                Outcome::Fatal(e) => return Err(e),
            }
        }
        Ok(None)
    }
}

/// The I/O side: owns the driver, runs the transactions, pushes outcomes.
struct IoThread<D> {
    driver: D,
    n_avg: u32,
    sampling: BoardSampling,
    shared: Arc<Shared>,
    counters: Arc<BoardCounters>,
    tx: rtrb::Producer<Outcome>,
    timeouts_in_row: u32,
    excitation: Arc<ExcitationControl>,
    /// A gain register was written (the excitation must be on when the thread ends).
    touched: bool,
    gains: [u16; 2],
}

impl<L: ByteLink, D: DerefMut<Target = BoardDriver<L>> + Send> IoThread<D> {
    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire) || self.tx.is_abandoned()
    }

    fn demanded(&self, now: i64) -> bool {
        let d = self.shared.demand_ns.load(Ordering::Acquire);
        d != 0 && now - d <= DEMAND_HOLD_NS
    }

    fn run(mut self) -> D {
        // without the privilege the thread stays an ordinary one (the samples keep their stamps;
        // only the holes a late wake-up leaves can grow)
        let _ = fifo_priority(IO_THREAD_PRIORITY);
        while !self.shared.begun.load(Ordering::Acquire) {
            if self.stopped() {
                return self.driver;
            }
            sleep_until(mono_ns() + IDLE_POLL_NS);
        }
        let own = self.driver.timeout_ns();
        let round_trip = self.driver.timing().round_trip_ns(self.n_avg, 100);
        self.driver.set_timeout_ns((SCAN_DEADLINE_FACTOR * round_trip).max(MIN_SCAN_DEADLINE_NS).min(own));
        let period_ns = match self.sampling {
            BoardSampling::Paced { rate_hz } if rate_hz.is_finite() && rate_hz > 0.0 => (1e9 / rate_hz) as i64,
            _ => 0,
        };
        let mut next_ns = 0;
        while !self.stopped() {
            self.switch_excitation();
            let now = mono_ns();
            if !self.demanded(now) {
                next_ns = 0;
                sleep_until(now + IDLE_POLL_NS);
                continue;
            }
            if period_ns > 0 {
                if next_ns == 0 || next_ns + period_ns < now {
                    // first sample of a stretch, or the board fell a whole period behind
                    next_ns = now;
                }
                sleep_until(next_ns);
                next_ns += period_ns;
            }
            if !self.sample() {
                break;
            }
        }
        self.restore_excitation();
        self.driver.set_timeout_ns(own);
        self.driver
    }

    /// Writes DDS1/DDS2's gain registers (and nothing else: the phase and frequency registers keep
    /// the excitation's direction).
    fn write_gains(&mut self, values: [u16; 2]) -> Result<(), BoardError> {
        self.touched = true;
        self.driver.write_register(addr::GAIN[0], values[0])?;
        self.driver.write_register(addr::GAIN[1], values[1])
    }

    /// Applies the state the motion thread asked for, if it differs from the board's.
    fn switch_excitation(&mut self) {
        let want = self.excitation.want_on.load(Ordering::Acquire);
        if want == self.excitation.is_on.load(Ordering::Acquire) || self.excitation.lock().error.is_some() {
            return;
        }
        match self.write_gains(if want { self.gains } else { [0, 0] }) {
            Ok(()) => {
                {
                    let mut r = self.excitation.lock();
                    if want {
                        r.unmutes += 1;
                    } else {
                        r.mutes += 1;
                    }
                }
                self.excitation.applied_ns.store(mono_ns(), Ordering::Release);
                self.excitation.is_on.store(want, Ordering::Release);
            }
            Err(e) => {
                let what = if want { "unmute (DDS1/DDS2 gains back)" } else { "mute (DDS1/DDS2 gains to 0)" };
                self.excitation.lock().error = Some(format!("board: could not {what}: {e}"));
            }
        }
    }

    /// At the end of the scan, whatever ended it: the excitation on again if it was touched.
    fn restore_excitation(&mut self) {
        if !self.touched {
            return;
        }
        let needs = !self.excitation.is_on.load(Ordering::Acquire) || self.excitation.lock().error.is_some();
        let result = if needs { self.write_gains(self.gains).map_err(|e| e.to_string()) } else { Ok(()) };
        if needs && result.is_ok() {
            self.excitation.is_on.store(true, Ordering::Release);
        }
        let mut r = self.excitation.lock();
        r.restored = Some(result.is_ok());
        if let (Err(e), None) = (result, &r.error) {
            r.error = Some(format!("board: could not write the DDS1/DDS2 gains back at the end of the scan: {e}"));
        }
    }

    /// One transaction; false when the link is gone (the fatal error was handed over).
    fn sample(&mut self) -> bool {
        let outcome = match self.driver.measure_timed(self.n_avg) {
            Ok(m) => {
                self.timeouts_in_row = 0;
                let duration_ns = self.driver.timing().window_ns(self.n_avg);
                Outcome::Sample { sample: Sample { t_ns: m.t_mid_ns, volts: m.volts, duration_ns }, t_send_ns: m.t_send_ns }
            }
            Err(BoardError::Protocol { .. }) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(BoardError::Link(TransportError::Timeout { .. })) if self.timeouts_in_row + 1 < MAX_CONSECUTIVE_TIMEOUTS => {
                self.timeouts_in_row += 1;
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(e @ BoardError::Link(_)) => Outcome::Fatal(DetectorError::fatal(DetectorErrorKind::Link, e.to_string())),
            Err(e) => Outcome::Fatal(DetectorError::fatal(DetectorErrorKind::Device, e.to_string())),
        };
        let fatal = matches!(outcome, Outcome::Fatal(_));
        let mut outcome = outcome;
        loop {
            match self.tx.push(outcome) {
                Ok(()) => break,
                // the end of the scan must get through: wait for room (the loop empties the ring
                // every beat); a sample that finds the ring full is dropped and counted
                Err(rtrb::PushError::Full(back)) if fatal && !self.stopped() => {
                    outcome = back;
                    sleep_until(mono_ns() + IDLE_POLL_NS);
                }
                Err(rtrb::PushError::Full(_)) => {
                    if !fatal {
                        self.counters.overflowed.fetch_add(1, Ordering::Relaxed);
                    }
                    break;
                }
            }
        }
        !fatal
    }
}
