//! Detectors the flyscan samples: a small trait and the implementations the engine ships.
//!
//! - The virtual probe (in the simulator crate, `aefi_sim::probe`) implements the same trait.
//! - [`ExternalStream`]: samples fed from outside (the Python DAQ adapter) through an SPSC ring;
//!   they carry their own timestamps.
//! - [`NoDetector`]: positions only.
//!
//! Invariant: `acquire` is called on the real-time thread only; it must not block, lock, allocate
//! or do I/O (a detector with I/O does it on a thread of its own, as the board detector does, and
//! hands its samples over through a wait-free ring).
use super::plan::Axis;
use super::record::N_CHANNELS;
use std::sync::Arc;

/// What a differential scan did to the excitation, for its statistics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExcitationReport {
    /// Mutes applied (DDS1/DDS2 gains written to 0).
    pub mutes: u32,
    /// Unmutes applied (the gains written back).
    pub unmutes: u32,
    /// The DDS1/DDS2 gain words an unmute writes back.
    pub gains: [u16; 2],
    /// After the scan: the gains are back (true), could not be written back (false), or were never
    /// touched (None).
    pub restored: Option<bool>,
    /// The first failure of a gain write.
    pub error: Option<String>,
}

/// The excitation of a detector that can mute it (the board's DDS gains), switched from the motion
/// thread between lines; the detector's own I/O thread writes the registers between transactions.
pub trait ExcitationSwitch: Send + Sync {
    /// Asks for the excitation on (`true`) or muted; returns at once.
    fn request(&self, on: bool);
    /// `Ok(Some(t_ns))` once the state `on` is applied (the instant its last register write was
    /// acknowledged), `Ok(None)` while it is not yet; `Err` when a write failed.
    ///
    /// # Errors
    /// The failed register write, named.
    fn applied(&self, on: bool) -> Result<Option<i64>, String>;
    /// What was done so far (complete once the detector has stopped).
    fn report(&self) -> ExcitationReport;
}

/// What kind of detector failure (the bindings map each kind to an exception class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorErrorKind {
    /// One sample failed; the scan goes on.
    Sample,
    /// The detector's link failed (timeout, unplugged).
    Link,
    /// The detector itself refused or answered nonsense.
    Device,
}

/// A detector failure (the record gets the detector-fault flag and NaN channels).
///
/// A *fatal* failure (the detector's link is gone: timeout, unplugged) ends the scan: the
/// motors are stopped, the records already taken are kept, and the scan reports `failed` with
/// this error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("detector: {message}")]
pub struct DetectorError {
    /// What failed.
    pub message: String,
    /// The scan cannot go on.
    pub fatal: bool,
    /// What kind of failure.
    pub kind: DetectorErrorKind,
}

impl DetectorError {
    /// A failure of one sample; the scan goes on.
    pub fn sample(message: impl Into<String>) -> Self {
        Self { message: message.into(), fatal: false, kind: DetectorErrorKind::Sample }
    }

    /// A failure that ends the scan.
    pub fn fatal(kind: DetectorErrorKind, message: impl Into<String>) -> Self {
        Self { message: message.into(), fatal: true, kind }
    }
}

/// One detector sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Instant the sample represents (monotonic ns; the middle of its integration).
    pub t_ns: i64,
    /// The six channels (V).
    pub volts: [f64; N_CHANNELS],
    /// Integration time (ns): the position smear of a sample is speed × this.
    pub duration_ns: i64,
}

/// Something the engine can sample.
pub trait Detector: Send {
    /// Called on the real-time thread before the first sample.
    ///
    /// # Errors
    /// A detector that cannot start fails the scan before any sample.
    fn begin(&mut self) -> Result<(), DetectorError> {
        Ok(())
    }

    /// One sample triggered at `t_ns` (software/hardware trigger), or the next one in continuous
    /// mode (`t_ns` = now). `Ok(None)`: no sample available yet (external streams).
    ///
    /// # Errors
    /// A failed sample; the engine records it with NaN channels and goes on.
    fn acquire(&mut self, t_ns: i64) -> Result<Option<Sample>, DetectorError>;

    /// Called after the last sample.
    fn end(&mut self) {}

    /// Samples the detector threw away because they were not valid (a board reply that did not
    /// parse): they are never recorded, only counted.
    fn rejected(&self) -> u64 {
        0
    }

    /// True when samples carry their own instants (an external stream): the engine does not
    /// trigger it, it takes the samples as they arrive.
    fn self_timed(&self) -> bool {
        false
    }

    /// The most samples a second this detector can give while flying, when it sets its own pace
    /// (the board: one round trip of its timing model at the chosen averaging); None when the
    /// engine's trigger or an external clock sets the rate.
    fn rate_limit_hz(&self) -> Option<f64> {
        None
    }

    /// The switch of this detector's excitation, when it has one (the board); a differential scan
    /// needs it.
    fn excitation(&self) -> Option<Arc<dyn ExcitationSwitch>> {
        None
    }
}

/// The true position of a simulated axis at an instant (a simulator's ground truth).
pub trait TruthSource: Send + Sync {
    /// True position of `axis` at `t_ns` (steps, fractional).
    fn true_steps(&self, axis: Axis, t_ns: i64) -> f64;
}

impl<F: Fn(Axis, i64) -> f64 + Send + Sync> TruthSource for F {
    fn true_steps(&self, axis: Axis, t_ns: i64) -> f64 {
        self(axis, t_ns)
    }
}

/// No detector: records carry positions only (NaN channels).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoDetector;

impl Detector for NoDetector {
    fn acquire(&mut self, t_ns: i64) -> Result<Option<Sample>, DetectorError> {
        Ok(Some(Sample { t_ns, volts: [f64::NAN; N_CHANNELS], duration_ns: 0 }))
    }
}

/// The feeding side of an [`ExternalStream`] (held by the Python DAQ adapter).
#[derive(Debug)]
pub struct ExternalFeed {
    producer: rtrb::Producer<Sample>,
}

impl ExternalFeed {
    /// Offers samples; returns how many were accepted (the rest did not fit).
    pub fn feed(&mut self, samples: &[Sample]) -> usize {
        let mut n = 0;
        for s in samples {
            if self.producer.push(*s).is_err() {
                break;
            }
            n += 1;
        }
        n
    }
}

/// Samples timed and produced elsewhere, delivered through an SPSC ring.
#[derive(Debug)]
pub struct ExternalStream {
    consumer: rtrb::Consumer<Sample>,
}

/// A connected feed and stream holding up to `capacity` samples in flight.
pub fn external_stream(capacity: usize) -> (ExternalFeed, ExternalStream) {
    let (producer, consumer) = rtrb::RingBuffer::new(capacity.max(1));
    (ExternalFeed { producer }, ExternalStream { consumer })
}

impl Detector for ExternalStream {
    fn acquire(&mut self, _t_ns: i64) -> Result<Option<Sample>, DetectorError> {
        Ok(self.consumer.pop().ok())
    }

    fn self_timed(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_stream_delivers_fed_samples_in_order() {
        let (mut feed, mut stream) = external_stream(2);
        let s = |t| Sample { t_ns: t, volts: [0.0; 6], duration_ns: 0 };
        assert_eq!(feed.feed(&[s(1), s(2), s(3)]), 2);
        assert!(stream.self_timed());
        assert_eq!(stream.acquire(0).unwrap().map(|x| x.t_ns), Some(1));
        assert_eq!(stream.acquire(0).unwrap().map(|x| x.t_ns), Some(2));
        assert_eq!(stream.acquire(0).unwrap(), None);
    }
}
