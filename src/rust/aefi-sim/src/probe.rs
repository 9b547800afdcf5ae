//! The virtual AEFI probe: the known field map ([`FieldMap`]) read at the TRUE simulator
//! position at the trigger instant, plus Gaussian noise. Its image can be checked against the
//! map. It is the engine's [`Detector`] for timing work on the simulated bench.
use crate::field::FieldMap;
use aefi_scan_engine::engine::detector::{Detector, DetectorError, Sample, TruthSource};
use aefi_scan_engine::engine::plan::Axis;
use aefi_scan_engine::engine::record::N_CHANNELS;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use std::sync::Arc;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_probe_reads_the_map_at_the_true_position() {
        // X moves at 1000 steps/s from 0, Y sits at 1000 steps: 21.8 mm at 21.8 µm/step.
        let truth: Arc<dyn TruthSource> = Arc::new(|axis: Axis, t: i64| if axis == Axis::X { t as f64 * 1e-6 } else { 1000.0 });
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
}
