//! Detectors the flyscan samples: a small trait and the implementations the engine ships.
//!
//! - [`VirtualProbe`]: the known field map ([`FieldMap`]) read at the TRUE simulator position
//!   at the trigger instant, plus Gaussian noise. Its image can be checked against the map.
//! - [`ExternalStream`]: samples fed from outside (the Python DAQ adapter) through an SPSC ring;
//!   they carry their own timestamps.
//! - [`NoDetector`]: positions only.
//!
//! Invariant: `acquire` is called on the real-time thread only; it must not block longer than one
//! sample takes (the board detector blocks for its own transaction, which is its sample time).
use super::plan::Axis;
use super::record::N_CHANNELS;
use crate::sim::field::FieldMap;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::sync::Arc;

/// A detector failure (the record gets the detector-fault flag and NaN channels).
///
/// A *fatal* failure (the detector's link is gone: timeout, unplugged) ends the scan: the
/// motors are stopped, the records already taken are kept, and the scan reports `failed` with
/// `kind` as the error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("detector: {message}")]
pub struct DetectorError {
    /// What failed.
    pub message: String,
    /// The scan cannot go on.
    pub fatal: bool,
    /// Error type reported when fatal (`LinkError`, `BoardError`, ...).
    pub kind: &'static str,
}

impl DetectorError {
    /// A failure of one sample; the scan goes on.
    pub fn sample(message: impl Into<String>) -> Self {
        Self { message: message.into(), fatal: false, kind: "AefiError" }
    }

    /// A failure that ends the scan, reported as `kind`.
    pub fn fatal(kind: &'static str, message: impl Into<String>) -> Self {
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

/// The virtual AEFI probe: the field map at the true stage position, plus noise.
pub struct VirtualProbe {
    truth: Arc<dyn TruthSource>,
    map: FieldMap,
    step_mm: f64,
    noise: Option<Normal<f64>>,
    rng: rand::rngs::StdRng,
}

impl std::fmt::Debug for VirtualProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualProbe").field("step_mm", &self.step_mm).field("noise", &self.noise).finish()
    }
}

impl VirtualProbe {
    /// A probe reading `map` at the true X/Y position (steps × `step_um`) with `noise_volts` RMS.
    pub fn new(truth: Arc<dyn TruthSource>, map: FieldMap, step_um: f64, noise_volts: f64, seed: u64) -> Self {
        let noise = if noise_volts > 0.0 { Normal::new(0.0, noise_volts).ok() } else { None };
        Self { truth, map, step_mm: step_um * 1e-3, noise, rng: rand::rngs::StdRng::seed_from_u64(seed) }
    }

    /// The noiseless reading at `t_ns`.
    pub fn exact(&self, t_ns: i64) -> [f64; N_CHANNELS] {
        let x_mm = self.truth.true_steps(Axis::X, t_ns) * self.step_mm;
        let y_mm = self.truth.true_steps(Axis::Y, t_ns) * self.step_mm;
        self.map.volts(x_mm, y_mm)
    }
}

impl Detector for VirtualProbe {
    fn acquire(&mut self, t_ns: i64) -> Result<Option<Sample>, DetectorError> {
        let mut volts = self.exact(t_ns);
        if let Some(n) = &self.noise {
            for v in &mut volts {
                *v += n.sample(&mut self.rng);
            }
        }
        Ok(Some(Sample { t_ns, volts, duration_ns: 0 }))
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
    fn virtual_probe_reads_the_map_at_the_true_position() {
        // X moves at 1000 steps/s from 0, Y sits at 1000 steps: 21.8 mm at 21.8 µm/step.
        let truth: Arc<dyn TruthSource> =
            Arc::new(|axis: Axis, t: i64| if axis == Axis::X { t as f64 * 1e-6 } else { 1000.0 });
        let mut probe = VirtualProbe::new(Arc::clone(&truth), FieldMap::aefi_default(), 21.8, 0.0, 1);
        let s = probe.acquire(1_000_000_000).unwrap().unwrap();
        assert_eq!(s.volts, FieldMap::aefi_default().volts(21.8, 21.8));
        assert_eq!(s.t_ns, 1_000_000_000);
    }

    #[test]
    fn probe_noise_has_the_requested_rms() {
        let truth: Arc<dyn TruthSource> = Arc::new(|_: Axis, _: i64| 0.0);
        let mut probe = VirtualProbe::new(truth, FieldMap::aefi_default(), 21.8, 0.01, 3);
        let exact = probe.exact(0);
        let n = 4000;
        let ms: f64 = (0..n).map(|_| (probe.acquire(0).unwrap().unwrap().volts[0] - exact[0]).powi(2)).sum::<f64>() / n as f64;
        assert!((ms.sqrt() - 0.01).abs() < 0.001, "rms {}", ms.sqrt());
    }

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
