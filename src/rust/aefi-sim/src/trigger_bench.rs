//! The trigger benchmark: the production pacer on a dedicated (real-time) thread sampling one of
//! the detectors `make demo` really uses, pushing records into the production ring; reports the
//! lateness (`aefi-bench engine-table`).
//!
//! The bench is a fresh in-process simulated bench (`sim://`, wire-timed at 9600 baud, the demo's
//! link) whose Arcus is driven the whole time by a motion thread over its own link (moves on X and
//! Y, X polled back to back, as the executor's motion thread does in flight), so the simulator's
//! ground truth keeps changing under the detector:
//! - [`BenchDetector::VirtualProbe`]: the field map at the simulator's true position (its truth
//!   read on the real-time thread);
//! - [`BenchDetector::Board`]: the bench's simulated acquisition board (wire-timed, it reads the
//!   field at the same truth) through the production board detector.
use crate::bench::{remove_bench, sim_truth_for_url};
use crate::field::FieldMap;
use crate::opener::BenchOpener;
use crate::probe::VirtualProbe;
use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::Axis as ArcusAxis;
use aefi_scan_engine::board::driver::BoardDriver;
use aefi_scan_engine::clock::mono_ns;
use aefi_scan_engine::engine::board_detector::{BoardDetector, BoardSampling};
use aefi_scan_engine::engine::detector::{Detector, TruthSource};
use aefi_scan_engine::engine::pacer::{make_realtime, LatenessUs, Pacer, RtReport};
use aefi_scan_engine::engine::plan::{BENCH_STEP_UM, MAX_SAMPLE_RATE_HZ};
use aefi_scan_engine::engine::record::{flags, ring, Record};
use aefi_scan_engine::engine::rt::{prefault_stack, MemoryLock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The detector the benchmark's real-time loop samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BenchDetector {
    /// The virtual probe reading the driven simulator's ground truth.
    VirtualProbe,
    /// The simulated acquisition board of the bench, through the board detector.
    Board,
}

impl BenchDetector {
    /// `"virtual_probe"` or `"board"` (the plan's detector names).
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "virtual_probe" => Ok(Self::VirtualProbe),
            "board" => Ok(Self::Board),
            other => Err(format!("detector must be \"virtual_probe\" or \"board\", got {other:?}")),
        }
    }

    /// The plan's name of the detector.
    pub fn name(self) -> &'static str {
        match self {
            Self::VirtualProbe => "virtual_probe",
            Self::Board => "board",
        }
    }
}

/// Result of [`trigger_benchmark`].
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerBench {
    /// The detector sampled.
    pub detector: BenchDetector,
    /// Lateness of the ticks.
    pub lateness: LatenessUs,
    /// Deadlines missed.
    pub missed: u64,
    /// Ticks run.
    pub ticks: u64,
    /// Samples the detector delivered (and the loop pushed into the ring).
    pub samples: u64,
    /// Records the ring dropped (the benchmark drains nothing while running).
    pub dropped: u64,
    /// Commands the motion thread sent to the simulated Arcus meanwhile.
    pub motion_commands: u64,
    /// What the RT set-up obtained.
    pub rt: RtReport,
}

/// The demo's link: the Arcus at 9600 baud, wire-timed.
const BENCH_URL_QUERY: &str = "baud=9600&timing=wire";
/// Ends of the back-and-forth moves of the motion thread (steps).
const MOVE_ENDS_STEPS: (i64, i64) = (1000, 3000);

fn bench_url() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("sim://aefi-trigger-bench-{}-{}?{BENCH_URL_QUERY}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Drives the bench's Arcus until `stop`: X back and forth, Y one step per line, X polled back
/// to back while it flies. Returns the number of commands sent.
fn drive(mut ctrl: ArcusController, stop: &AtomicBool, commands: &AtomicU64) -> Result<(), String> {
    let count = || commands.fetch_add(1, Ordering::Relaxed);
    let mut target = MOVE_ENDS_STEPS.1;
    let mut y = 0;
    while !stop.load(Ordering::Relaxed) {
        y += 10;
        ctrl.move_abs(ArcusAxis::Y, y).map_err(|e| e.to_string())?;
        ctrl.move_abs(ArcusAxis::X, target).map_err(|e| e.to_string())?;
        count();
        count();
        while !stop.load(Ordering::Relaxed) {
            let p = ctrl.position(ArcusAxis::X).map_err(|e| e.to_string())?;
            count();
            if p == target {
                break;
            }
        }
        target = if target == MOVE_ENDS_STEPS.1 { MOVE_ENDS_STEPS.0 } else { MOVE_ENDS_STEPS.1 };
    }
    let _ = ctrl.stop(None);
    Ok(())
}

fn detector_for(which: BenchDetector, url: &str, rate_hz: f64) -> Result<Box<dyn Detector>, String> {
    match which {
        BenchDetector::VirtualProbe => {
            let truth = sim_truth_for_url(url).ok_or_else(|| format!("no simulated bench at {url}"))?;
            let truth: Arc<dyn TruthSource> = Arc::new(truth);
            Ok(Box::new(VirtualProbe::new(truth, FieldMap::aefi_default(), BENCH_STEP_UM, 1e-3, 11)))
        }
        BenchDetector::Board => {
            let driver = BoardDriver::open(&BenchOpener, url, 1_000_000_000).map_err(|e| e.to_string())?;
            Ok(Box::new(BoardDetector::with_sampling(Box::new(driver), 1, BoardSampling::Paced { rate_hz })))
        }
    }
}

/// Runs the production pacer on a dedicated thread for `duration_s` at `rate_hz`, sampling
/// `detector` on a simulated bench whose Arcus is being driven meanwhile, pushing records into a
/// ring, and reports the lateness.
///
/// # Errors
/// A bad rate or duration, a bench that cannot be opened, a detector that fails.
pub fn trigger_benchmark(rate_hz: f64, duration_s: f64, realtime: bool, detector: BenchDetector) -> Result<TriggerBench, String> {
    if !(duration_s.is_finite() && duration_s > 0.0 && duration_s <= 3600.0) {
        return Err(format!("duration_s must be in (0, 3600] s, got {duration_s}"));
    }
    if !(rate_hz.is_finite() && rate_hz > 0.0 && rate_hz <= MAX_SAMPLE_RATE_HZ) {
        return Err(format!("rate_hz must be in (0, {}] Hz, got {rate_hz}", MAX_SAMPLE_RATE_HZ));
    }
    let url = bench_url();
    let ctrl = ArcusController::open(&BenchOpener, &url, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    let result = run_with_motion(ctrl, &url, rate_hz, duration_s, realtime, detector);
    if let Some(name) = url.strip_prefix("sim://").and_then(|s| s.split('?').next()) {
        remove_bench(name);
    }
    result
}

fn run_with_motion(
    ctrl: ArcusController,
    url: &str,
    rate_hz: f64,
    duration_s: f64,
    realtime: bool,
    which: BenchDetector,
) -> Result<TriggerBench, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let commands = Arc::new(AtomicU64::new(0));
    let motion = {
        let (stop, commands) = (Arc::clone(&stop), Arc::clone(&commands));
        std::thread::Builder::new()
            .name("aefi-bench-motion".into())
            .spawn(move || drive(ctrl, &stop, &commands))
            .map_err(|e| e.to_string())?
    };
    let outcome = detector_for(which, url, rate_hz).and_then(|det| {
        std::thread::Builder::new()
            .name("aefi-trigger-bench".into())
            .spawn(move || rt_loop(det, rate_hz, duration_s, realtime))
            .map_err(|e| e.to_string())?
            .join()
            .map_err(|_| "the benchmark thread panicked".to_string())?
    });
    stop.store(true, Ordering::Relaxed);
    let driven = motion.join().map_err(|_| "the motion thread panicked".to_string())?;
    let mut b = outcome?;
    driven?;
    b.detector = which;
    b.motion_commands = commands.load(Ordering::Relaxed);
    Ok(b)
}

fn rt_loop(mut det: Box<dyn Detector>, rate_hz: f64, duration_s: f64, realtime: bool) -> Result<TriggerBench, String> {
    let mut rt = if realtime { make_realtime(50) } else { RtReport { detail: "not requested".into(), ..RtReport::default() } };
    let n = (rate_hz * duration_s).ceil() as u64;
    // the memory set-up of the production trigger loop: buffers faulted in, memory locked
    let (mut writer, _consumer, counters) = ring((n as usize + 16).min(1 << 24));
    let mut pacer = Pacer::new(0, rate_hz)?;
    rt.prefaulted_bytes = (writer.prefaulted_bytes() + pacer.prefault() + prefault_stack()) as u64;
    let memory_lock = rt.fifo.then(|| {
        let (lock, detail) = MemoryLock::acquire();
        rt.mlocked = lock.locked();
        rt.detail = format!("{}; {detail}", rt.detail);
        lock
    });
    det.begin().map_err(|e| e.to_string())?;
    let self_timed = det.self_timed();
    pacer.start_at(mono_ns() + 2_000_000);
    let (mut ticks, mut samples) = (0, 0);
    let mut failure = None;
    while ticks < n && failure.is_none() {
        let tick = pacer.wait();
        // A self-timed detector delivers what it has; a triggered one one sample per tick.
        loop {
            match det.acquire(tick.now_ns) {
                Ok(Some(s)) => {
                    writer.push(Record { t_ns: s.t_ns, channels: s.volts, flags: flags::ESTIMATED, ..Record::default() });
                    samples += 1;
                }
                Ok(None) => break,
                Err(e) if e.fatal => {
                    failure = Some(e);
                    break;
                }
                Err(_) => {}
            }
            if !self_timed {
                break;
            }
        }
        ticks += 1 + tick.missed_before;
    }
    det.end();
    drop(memory_lock);
    if let Some(e) = failure {
        return Err(e.to_string());
    }
    Ok(TriggerBench {
        detector: BenchDetector::VirtualProbe,
        lateness: LatenessUs::of(pacer.lateness()),
        missed: pacer.missed(),
        ticks,
        samples,
        dropped: counters.dropped.load(Ordering::Relaxed),
        motion_commands: 0,
        rt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmark_runs_every_tick_with_the_virtual_probe() {
        let b = trigger_benchmark(2000.0, 0.1, false, BenchDetector::VirtualProbe).unwrap();
        // a stall on a loaded machine may skip deadlines, counted as missed; none is lost
        assert!(b.ticks >= 200 && b.ticks <= 200 + b.missed, "{b:?}");
        assert_eq!(b.lateness.count + b.missed, b.ticks);
        assert_eq!(b.samples, b.lateness.count);
        assert_eq!(b.dropped, 0);
        assert!(b.motion_commands > 0, "{b:?}");
        assert!(trigger_benchmark(0.0, 1.0, false, BenchDetector::VirtualProbe).is_err());
    }

    #[test]
    fn benchmark_samples_the_simulated_board() {
        let b = trigger_benchmark(1000.0, 0.3, false, BenchDetector::Board).unwrap();
        assert_eq!(b.detector, BenchDetector::Board);
        assert_eq!(b.lateness.count + b.missed, b.ticks);
        // the board's round trip is ~11 ms at one average: tens of samples in 0.3 s
        assert!(b.samples >= 5, "{b:?}");
        assert!(BenchDetector::parse("probe").is_err());
        assert_eq!(BenchDetector::parse("board"), Ok(BenchDetector::Board));
    }
}
