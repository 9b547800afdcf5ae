//! The process-global registry of in-process simulated benches, keyed by `sim://NAME`, and the
//! in-process link to a bench's Arcus.
//!
//! The first open of `sim://NAME` creates the bench with the URL's options; later opens attach
//! to the same instance (their options are ignored), so the move plugin, the flyscan engine and
//! the board simulator of one `NAME` share one ground truth.
//!
//! [`SimLink`] goes through the same [`ByteLink`]/framing path as a real port: the host writes a
//! framed command, the device side decodes it with [`DeviceFrameDecoder`] (as the PTY/TCP
//! servers do), and, with `timing=wire`, each reply is returned at the instant the wire would
//! deliver it (sleep, then spin the last ~100 µs).
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::arcus::{ArcusSim, Fault, FrameOutcome, PublishedTruth, SimConfig, TruthLog, TruthRead};
use aefi_scan_engine::arcus::framing::{wire_time_ns, DeviceFrameDecoder, Framing};
use aefi_scan_engine::arcus::protocol::Axis;
use aefi_scan_engine::clock::{Clock, MonotonicClock};
use aefi_scan_engine::engine::arcus_stage::arcus_axis;
use aefi_scan_engine::engine::detector::TruthSource;
use aefi_scan_engine::engine::pacer::wait_until;
use aefi_scan_engine::transport::{ByteLink, LinkUrl, SimTiming, TransportError};

/// A simulated controller shared between threads.
pub type SharedArcus = Arc<Mutex<ArcusSim>>;

/// Locks a shared simulator. A panic while it was held cannot leave it half-updated in a way
/// that matters to a test bench, so a poisoned lock is used as is.
pub fn lock_sim(sim: &Mutex<ArcusSim>) -> MutexGuard<'_, ArcusSim> {
    sim.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read access to the ground truth of a simulated Arcus; cheap to clone, Send + Sync.
///
/// [`TruthHandle::true_position_steps`] reads the table the simulator publishes after each
/// command ([`PublishedTruth`]): no lock, so a probe on the real-time thread never waits for a
/// link that holds the simulator while it handles a command. Only an instant older than the
/// table's window ([`aefi_sim::arcus::HORIZON_NS`](crate::arcus::HORIZON_NS) before the last
/// command; post-hoc checks, never a probe reading the present) goes to the full log under the
/// simulator's lock.
#[derive(Debug, Clone)]
pub struct TruthHandle {
    sim: SharedArcus,
    published: Arc<PublishedTruth>,
}

impl TruthHandle {
    /// A handle on `sim`.
    pub fn new(sim: SharedArcus) -> TruthHandle {
        let published = lock_sim(&sim).published_truth();
        TruthHandle { sim, published }
    }

    /// Exact position of `axis` at `t_ns` (pulse-counter units, counter frame at `t_ns`).
    pub fn true_position_steps(&self, axis: Axis, t_ns: i64) -> f64 {
        match self.published.read(axis.index(), t_ns) {
            TruthRead::Steps(x) => x,
            TruthRead::OutsideWindow => self.exact_position_steps(axis, t_ns),
        }
    }

    /// Exact position from the full log, under the simulator's lock (any instant; not for the
    /// real-time thread).
    pub fn exact_position_steps(&self, axis: Axis, t_ns: i64) -> f64 {
        lock_sim(&self.sim).true_position_steps(axis, t_ns)
    }

    /// Exact positions at many instants (one lock).
    pub fn true_positions_steps(&self, axis: Axis, t_ns: &[i64]) -> Vec<f64> {
        let sim = lock_sim(&self.sim);
        t_ns.iter().map(|t| sim.true_position_steps(axis, *t)).collect()
    }

    /// A copy of the motion log.
    pub fn log(&self) -> TruthLog {
        lock_sim(&self.sim).truth_log()
    }
}

/// One simulated bench: the Arcus and (added by the board simulator) the acquisition board.
#[derive(Debug)]
pub struct SimBench {
    /// `NAME` of `sim://NAME`.
    pub name: String,
    /// The bench's time: the monotonic clock, or a [`ManualClock`](aefi_scan_engine::clock::ManualClock)
    /// for stepped-time tests (its links stamp and wait on it, faults are injected at its now).
    pub clock: Arc<dyn Clock>,
    /// The simulated PMX-4EX-SA.
    pub arcus: SharedArcus,
    /// Its ground truth.
    pub truth: TruthHandle,
    // The AEFI acquisition board simulator of this bench goes here (a `board` field reading
    // `truth` for the probe position).
}

impl SimBench {
    /// Injects a fault into the bench's Arcus now.
    pub fn inject(&self, fault: Fault) {
        lock_sim(&self.arcus).inject(fault, self.clock.now_ns());
    }
}

fn registry() -> &'static Mutex<HashMap<String, Arc<SimBench>>> {
    static REG: OnceLock<Mutex<HashMap<String, Arc<SimBench>>>> = OnceLock::new();
    REG.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The bench `name`, created with `cfg()` if it does not exist yet.
///
/// # Errors
/// The configuration error of a bench being created.
pub fn open_bench(name: &str, cfg: impl FnOnce() -> Result<SimConfig, String>) -> Result<Arc<SimBench>, String> {
    open_bench_with_clock(name, Arc::new(MonotonicClock), cfg)
}

/// The bench `name`, created with `cfg()` on `clock` if it does not exist yet (an existing bench
/// keeps its own clock).
///
/// # Errors
/// The configuration error of a bench being created.
pub fn open_bench_with_clock(
    name: &str,
    clock: Arc<dyn Clock>,
    cfg: impl FnOnce() -> Result<SimConfig, String>,
) -> Result<Arc<SimBench>, String> {
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    if let Some(b) = reg.get(name) {
        return Ok(Arc::clone(b));
    }
    let arcus = Arc::new(Mutex::new(ArcusSim::new(cfg()?, clock.now_ns())));
    let bench = Arc::new(SimBench { name: name.to_string(), clock, truth: TruthHandle::new(Arc::clone(&arcus)), arcus });
    reg.insert(name.to_string(), Arc::clone(&bench));
    Ok(bench)
}

/// The bench `name` if it exists.
pub fn find_bench(name: &str) -> Option<Arc<SimBench>> {
    registry().lock().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
}

/// Forgets the bench `name` (links already open keep their instance).
pub fn remove_bench(name: &str) -> bool {
    registry().lock().unwrap_or_else(|p| p.into_inner()).remove(name).is_some()
}

/// The bench named by a `sim://` URL (created from its options on first use).
///
/// # Errors
/// [`TransportError::BadUrl`] for a non-`sim://` URL or bad simulator options.
pub fn bench_for_url(url: &str) -> Result<Arc<SimBench>, TransportError> {
    match LinkUrl::parse(url)? {
        LinkUrl::Sim { name, baud, device, options, .. } => open_bench(&name, || {
            let mut cfg = SimConfig::default();
            cfg.apply_option("baud", &baud.to_string())?;
            cfg.apply_option("device", &device.to_string())?;
            for (k, v) in &options {
                cfg.apply_option(k, v)?;
            }
            Ok(cfg)
        })
        .map_err(|reason| TransportError::BadUrl { url: url.to_string(), reason }),
        _ => Err(TransportError::BadUrl { url: url.to_string(), reason: "not a sim:// URL".into() }),
    }
}

/// How long before a reply instant a wire-timed link stops sleeping and spins (ns).
const REPLY_SPIN_NS: i64 = 100_000;

/// Sleeps until `t_ns` ([`mono_ns`](aefi_scan_engine::clock::mono_ns)): OS sleep to ~100 µs before, then spin.
pub fn sleep_until_ns(t_ns: i64) {
    wait_until(&MonotonicClock, t_ns, REPLY_SPIN_NS);
}

/// An in-process link to a bench's Arcus, RS-485 framed.
#[derive(Debug)]
pub struct SimLink {
    name: String,
    bench: Arc<SimBench>,
    baud: u32,
    timing: SimTiming,
    framing: Framing,
    decoder: DeviceFrameDecoder,
    pending: VecDeque<(Vec<u8>, i64)>,
    rx: Vec<u8>,
}

impl SimLink {
    /// Opens `sim://NAME?…` (creating the bench on first use).
    ///
    /// # Errors
    /// [`TransportError::BadUrl`].
    pub fn open(url: &str) -> Result<SimLink, TransportError> {
        let bench = bench_for_url(url)?;
        let LinkUrl::Sim { name, baud, timing, device, .. } = LinkUrl::parse(url)? else {
            return Err(TransportError::BadUrl { url: url.to_string(), reason: "not a sim:// URL".into() });
        };
        Ok(SimLink {
            name: format!("sim://{name}"),
            bench,
            baud,
            timing,
            framing: Framing::Rs485 { device },
            decoder: DeviceFrameDecoder::new(),
            pending: VecDeque::new(),
            rx: Vec::new(),
        })
    }

    /// The bench behind the link.
    pub fn bench(&self) -> &Arc<SimBench> {
        &self.bench
    }

    /// The framing this link's host side must use.
    pub fn framing(&self) -> Framing {
        self.framing
    }
}

impl ByteLink for SimLink {
    fn name(&self) -> &str {
        &self.name
    }

    fn baud(&self) -> Option<u32> {
        Some(self.baud)
    }

    fn write_frame(&mut self, frame: &[u8]) -> Result<i64, TransportError> {
        let t_send = self.bench.clock.now_ns();
        let wire = self.timing == SimTiming::Wire;
        let mut sim = lock_sim(&self.bench.arcus);
        if sim.is_disconnected() {
            return Err(TransportError::Disconnected { port: self.name.clone(), detail: "simulated disconnect".into() });
        }
        let mut t_arrived = t_send;
        for f in self.decoder.push(frame) {
            if wire {
                t_arrived += wire_time_ns(f.wire_bytes, sim.baud());
            }
            if f.device != Some(sim.device_number()) {
                continue;
            }
            match sim.handle_command(&f.command, t_arrived, self.framing, wire) {
                FrameOutcome::Reply { bytes, ready_ns } => self.pending.push_back((bytes, ready_ns)),
                FrameOutcome::Silent => {}
                FrameOutcome::Dead => {
                    return Err(TransportError::Disconnected { port: self.name.clone(), detail: "simulated disconnect".into() })
                }
            }
        }
        Ok(t_send)
    }

    fn read_until(&mut self, terminator: u8, deadline_ns: i64) -> Result<(Vec<u8>, i64), TransportError> {
        let clock = Arc::clone(&self.bench.clock);
        let start = clock.now_ns();
        loop {
            if let Some(frame) = aefi_scan_engine::transport::take_through(&mut self.rx, terminator) {
                return Ok((frame, clock.now_ns()));
            }
            match self.pending.front() {
                Some((_, ready)) if *ready <= deadline_ns => {
                    wait_until(&*clock, *ready, REPLY_SPIN_NS);
                    if let Some((bytes, _)) = self.pending.pop_front() {
                        self.rx.extend_from_slice(&bytes);
                    }
                }
                _ => {
                    if lock_sim(&self.bench.arcus).is_disconnected() && self.pending.is_empty() {
                        return Err(TransportError::Disconnected { port: self.name.clone(), detail: "simulated disconnect".into() });
                    }
                    wait_until(&*clock, deadline_ns, REPLY_SPIN_NS);
                    return Err(TransportError::Timeout {
                        port: self.name.clone(),
                        waited_ms: (clock.now_ns() - start) as f64 / 1e6,
                        partial: String::from_utf8_lossy(&self.rx).into_owned(),
                    });
                }
            }
        }
    }

    fn discard_input(&mut self) -> Result<(), TransportError> {
        self.rx.clear();
        self.pending.clear();
        Ok(())
    }

    fn now_ns(&self) -> i64 {
        self.bench.clock.now_ns()
    }

    fn sleep_until_ns(&self, t_ns: i64) {
        self.bench.clock.sleep_until_ns(t_ns);
    }

    fn device_turnaround_ns(&self) -> f64 {
        if self.timing == SimTiming::Wire {
            lock_sim(&self.bench.arcus).config().turnaround_ns as f64
        } else {
            0.0
        }
    }
}

/// The ground truth of an in-process simulated Arcus as the engine's [`TruthSource`] (axes in
/// the engine's naming), for the virtual probe and the truth checks.
#[derive(Debug, Clone)]
pub struct SimTruth(pub TruthHandle);

impl TruthSource for SimTruth {
    fn true_steps(&self, axis: aefi_scan_engine::engine::plan::Axis, t_ns: i64) -> f64 {
        self.0.true_position_steps(arcus_axis(axis), t_ns)
    }
}

/// The truth of the simulator behind `url`, when it is an in-process `sim://` bench.
pub fn sim_truth_for_url(url: &str) -> Option<SimTruth> {
    match LinkUrl::parse(url) {
        Ok(LinkUrl::Sim { name, .. }) => find_bench(&name).map(|b| SimTruth(b.truth.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opener::BenchOpener;
    use aefi_scan_engine::arcus::driver::ArcusController;
    use aefi_scan_engine::clock::mono_ns;
    use std::time::Duration;

    #[test]
    fn the_truth_is_read_while_a_link_holds_the_simulator() {
        let url = "sim://bench-truth-lock-free?timing=none";
        let mut ctrl = ArcusController::open(&BenchOpener, url, Duration::from_millis(500)).unwrap();
        ctrl.move_abs(Axis::X, 5000).unwrap();
        let truth = sim_truth_for_url(url).unwrap();
        let bench = find_bench("bench-truth-lock-free").unwrap();
        // the motion side is inside a command: it holds the simulator
        let held = lock_sim(&bench.arcus);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let t = mono_ns();
            let _ = tx.send((t, truth.true_steps(aefi_scan_engine::engine::plan::Axis::X, t)));
        });
        let (t, x) = rx.recv_timeout(Duration::from_secs(10)).expect("the probe's read waited for the simulator's lock");
        assert_eq!(x, held.true_position_steps(Axis::X, t));
        assert!(x > 0.0 && x < 5000.0, "{x}");
        drop(held);
        remove_bench("bench-truth-lock-free");
    }
}
