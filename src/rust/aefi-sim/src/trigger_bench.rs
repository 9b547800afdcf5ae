//! The trigger benchmark: the production pacer driving the virtual probe on a dedicated thread,
//! pushing records into the production ring; reports the lateness (`aefi-bench`).
use crate::field::FieldMap;
use crate::probe::VirtualProbe;
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::detector::{Detector, TruthSource};
use aefi_scan_engine::engine::pacer::{make_realtime, LatenessUs, Pacer, RtReport};
use aefi_scan_engine::engine::plan::{Axis, MAX_SAMPLE_RATE_HZ};
use aefi_scan_engine::engine::record::{flags, ring, Record};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Result of [`trigger_benchmark`].
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerBench {
    /// Lateness of the ticks.
    pub lateness: LatenessUs,
    /// Deadlines missed.
    pub missed: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Records the ring dropped (the benchmark drains nothing while running).
    pub dropped: u64,
    /// What the RT set-up obtained.
    pub rt: RtReport,
}

/// Runs the production pacer and the virtual probe on a dedicated thread for `duration_s`
/// at `rate_hz`, pushing records into a ring, and reports the lateness.
///
/// # Errors
/// A bad rate or duration.
pub fn trigger_benchmark(rate_hz: f64, duration_s: f64, realtime: bool) -> Result<TriggerBench, String> {
    if !(duration_s.is_finite() && duration_s > 0.0 && duration_s <= 3600.0) {
        return Err(format!("duration_s must be in (0, 3600] s, got {duration_s}"));
    }
    if !(rate_hz.is_finite() && rate_hz > 0.0 && rate_hz <= MAX_SAMPLE_RATE_HZ) {
        return Err(format!("rate_hz must be in (0, {}] Hz, got {rate_hz}", MAX_SAMPLE_RATE_HZ));
    }
    let n = (rate_hz * duration_s).ceil() as u64;
    let handle = std::thread::Builder::new()
        .name("aefi-trigger-bench".into())
        .spawn(move || {
            let rt = if realtime { make_realtime(50) } else { RtReport { detail: "not requested".into(), ..RtReport::default() } };
            let truth: Arc<dyn TruthSource> =
                Arc::new(|axis: Axis, t: i64| if axis == Axis::X { (t % 1_000_000_000) as f64 * 4e-6 } else { 1500.0 });
            let mut probe = VirtualProbe::new(truth, FieldMap::aefi_default(), 21.8, 1e-3, 11);
            let (mut writer, _consumer, counters) = ring((n as usize + 16).min(1 << 24));
            let mut pacer = Pacer::new(mono_ns() + 2_000_000, rate_hz)?;
            let mut ticks = 0;
            while ticks < n {
                let tick = pacer.wait();
                if let Ok(Some(s)) = probe.acquire(tick.now_ns) {
                    writer.push(Record { t_ns: s.t_ns, channels: s.volts, flags: flags::ESTIMATED, ..Record::default() });
                }
                ticks += 1 + tick.missed_before;
            }
            Ok(TriggerBench {
                lateness: LatenessUs::of(pacer.lateness()),
                missed: pacer.missed(),
                ticks,
                dropped: counters.dropped.load(Ordering::Relaxed),
                rt,
            })
        })
        .map_err(|e| e.to_string())?;
    handle.join().map_err(|_| "the benchmark thread panicked".to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_runs_every_tick() {
        let b = trigger_benchmark(2000.0, 0.05, false).unwrap();
        // a stall on a loaded machine may skip deadlines, counted as missed; none is lost
        assert!(b.ticks >= 100 && b.ticks <= 100 + b.missed, "{b:?}");
        assert_eq!(b.lateness.count + b.missed, b.ticks);
        assert_eq!(b.dropped, 0);
        assert!(trigger_benchmark(0.0, 1.0, false).is_err());
    }
}
