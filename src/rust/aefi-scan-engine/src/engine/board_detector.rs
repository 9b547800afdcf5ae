//! The AEFI acquisition board as the flyscan's detector: polled back to back on its own link.
//!
//! Each `acquire` is one `m<n>*` transaction stamped at send and receive; the sample instant is
//! the middle of the MCU's averaging window placed by the board's timing model
//! (`board::timing`), and the sample's duration is that window (the spatial smear is speed ×
//! window). The link is the scan's for its whole duration: the detector owns the lent driver
//! and dropping it (any ending of the scan) returns the link to its owner.
//!
//! Faults: a reply that does not parse (garbage, fewer codes, a refused command) is **never
//! recorded**: `acquire` answers `Ok(None)` and counts it in [`BoardDetector::rejected`]. So is a
//! reply that misses its deadline (during a scan the deadline is [`SCAN_DEADLINE_FACTOR`] × the
//! model's round trip, at least [`MIN_SCAN_DEADLINE_NS`], never more than the driver's own),
//! unless [`MAX_CONSECUTIVE_TIMEOUTS`] come in a row. A lost link (unplugged board, too many
//! timeouts) is fatal: the scan stops the motors and keeps the lines already acquired.
use std::ops::DerefMut;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::detector::{Detector, DetectorError, DetectorErrorKind, Sample};
use crate::board::driver::{BoardDriver, BoardError};
use crate::transport::{ByteLink, TransportError};

/// Deadline of a board reply during a scan, in model round trips.
pub const SCAN_DEADLINE_FACTOR: i64 = 4;
/// Shortest deadline of a board reply during a scan (ns).
pub const MIN_SCAN_DEADLINE_NS: i64 = 50_000_000;
/// Timeouts in a row after which the board counts as gone.
pub const MAX_CONSECUTIVE_TIMEOUTS: u32 = 3;

/// Counters the scan reports after the end.
#[derive(Debug, Default)]
pub struct BoardCounters {
    /// Samples whose reply did not parse (not recorded).
    pub rejected: AtomicU64,
    /// Samples recorded.
    pub accepted: AtomicU64,
}

/// The board detector over a lent (or owned) driver.
#[derive(Debug)]
pub struct BoardDetector<D> {
    driver: D,
    n_avg: u32,
    counters: Arc<BoardCounters>,
    timeouts_in_row: u32,
    saved_timeout_ns: Option<i64>,
}

impl<L: ByteLink, D: DerefMut<Target = BoardDriver<L>> + Send> BoardDetector<D> {
    /// Samples `driver` with `n_avg` MCU averages per sample.
    pub fn new(driver: D, n_avg: u32) -> Self {
        Self { driver, n_avg, counters: Arc::new(BoardCounters::default()), timeouts_in_row: 0, saved_timeout_ns: None }
    }

    /// Shared counters (read them after the scan).
    pub fn counters(&self) -> Arc<BoardCounters> {
        Arc::clone(&self.counters)
    }

    /// Samples rejected so far.
    pub fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }
}

impl<L: ByteLink, D: DerefMut<Target = BoardDriver<L>> + Send> Detector for BoardDetector<D> {
    fn rejected(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }

    fn begin(&mut self) -> Result<(), DetectorError> {
        let own = self.driver.timeout_ns();
        let round_trip = self.driver.timing().round_trip_ns(self.n_avg, 100);
        self.saved_timeout_ns = Some(own);
        self.driver.set_timeout_ns((SCAN_DEADLINE_FACTOR * round_trip).max(MIN_SCAN_DEADLINE_NS).min(own));
        Ok(())
    }

    fn end(&mut self) {
        if let Some(t) = self.saved_timeout_ns.take() {
            self.driver.set_timeout_ns(t);
        }
    }

    fn acquire(&mut self, _t_ns: i64) -> Result<Option<Sample>, DetectorError> {
        match self.driver.measure_timed(self.n_avg) {
            Ok(m) => {
                self.timeouts_in_row = 0;
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                let duration_ns = self.driver.timing().window_ns(self.n_avg);
                Ok(Some(Sample { t_ns: m.t_mid_ns, volts: m.volts, duration_ns }))
            }
            Err(BoardError::Protocol { .. }) => {
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(BoardError::Link(TransportError::Timeout { .. })) if self.timeouts_in_row + 1 < MAX_CONSECUTIVE_TIMEOUTS => {
                self.timeouts_in_row += 1;
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(e @ BoardError::Link(_)) => Err(DetectorError::fatal(DetectorErrorKind::Link, e.to_string())),
            Err(e) => Err(DetectorError::fatal(DetectorErrorKind::Device, e.to_string())),
        }
    }
}
