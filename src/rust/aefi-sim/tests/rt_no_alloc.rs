//! The real-time loop never allocates: the production trigger loop runs here on the test's own
//! thread, its body under `assert_no_alloc` (the engine's `alloc-guard` feature), with this
//! binary's allocator counting every allocation and deallocation made inside it.
//!
//! The loop samples the detectors `make demo` uses, on a simulated bench (`sim://`, wire-timed)
//! whose Arcus is driven meanwhile by a motion thread over its own link, as the executor drives
//! it: moves (each publishes a new move table) and stamped position polls passed to the loop.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::board::driver::BoardDriver;
use aefi_scan_engine::clock::MonotonicClock;
use aefi_scan_engine::engine::arcus_stage::ArcusStage;
use aefi_scan_engine::engine::board_detector::{BoardDetector, BoardSampling};
use aefi_scan_engine::engine::detector::{Detector, TruthSource};
use aefi_scan_engine::engine::model::Trapezoid;
use aefi_scan_engine::engine::plan::{Axis, Cadence, LineSpec, TriggerMode, BENCH_STEP_UM};
use aefi_scan_engine::engine::record::{drain_columns, flags, ring};
use aefi_scan_engine::engine::rt::rt_section;
use aefi_scan_engine::engine::stage::Stage;
use aefi_scan_engine::engine::stats::Live;
use aefi_scan_engine::engine::trigger::{run_trigger_loop, Msg, TriggerConfig};
use aefi_sim::bench::{remove_bench, sim_truth_for_url};
use aefi_sim::field::FieldMap;
use aefi_sim::opener::BenchOpener;
use aefi_sim::probe::VirtualProbe;
use assert_no_alloc::{reset_violation_count, violation_count, AllocDisabler};

#[global_allocator]
static ALLOC: AllocDisabler = AllocDisabler;

const LINES: u32 = 2;
const SPEED_PPS: i64 = 1500;

fn url(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("sim://rt-no-alloc-{name}-{}?baud=115200&timing=wire", N.fetch_add(1, Ordering::Relaxed))
}

fn push(tx: &mut rtrb::Producer<Msg>, m: Msg) {
    let mut m = m;
    while let Err(rtrb::PushError::Full(back)) = tx.push(m) {
        m = back;
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The motion side: flies `LINES` serpentine lines on the bench's Arcus, sending the loop what
/// the executor's motion thread sends (line start with the commanded profile, each poll, line end).
fn fly_lines(url: String, mut tx: rtrb::Producer<Msg>) {
    let mut ctrl = ArcusController::open(&BenchOpener, &url, Duration::from_millis(500)).unwrap();
    ctrl.set_speeds(aefi_scan_engine::arcus::protocol::Axis::X, Some(SPEED_PPS), Some(10), Some(100), Some(100)).unwrap();
    let mut stage = ArcusStage::new(&mut ctrl);
    let s = stage.speeds(Axis::X).unwrap();
    for index in 0..LINES {
        let (a, b) = if index % 2 == 0 { (1000, 1900) } else { (1900, 1000) };
        let dir = if b > a { 1 } else { -1 };
        let spec = LineSpec {
            index,
            slow_steps: 0,
            span_from_steps: a,
            span_to_steps: b,
            runup_start_steps: a - dir * 200,
            runout_end_steps: b + dir * 200,
            baseline: false,
        };
        stage.move_to(Axis::X, spec.runup_start_steps).unwrap();
        while stage.poll(Axis::X).unwrap().steps != spec.runup_start_steps {}
        let start = stage.poll(Axis::X).unwrap();
        let cmd = stage.move_to(Axis::X, spec.runout_end_steps).unwrap();
        let profile =
            Trapezoid::new(start.steps as f64, spec.runout_end_steps as f64, s.ls_pps, s.hs_pps, s.acc_ms * 1e-3, s.dec_ms * 1e-3);
        push(&mut tx, Msg::LineStart { spec, profile, t_cmd_ns: cmd.t_send_ns as f64, sigma_ns: 200_000.0 });
        loop {
            let p = stage.poll(Axis::X).unwrap();
            push(&mut tx, Msg::Poll(p));
            if p.steps == spec.runout_end_steps {
                break;
            }
        }
        push(&mut tx, Msg::LineEnd);
    }
    push(&mut tx, Msg::Finish);
}

/// Runs the real trigger loop on this thread against `detector` while the bench is flown;
/// returns the allocations made inside the loop body and the records it produced.
fn run_loop(url: &str, detector: Box<dyn Detector>) -> (u32, usize, u64) {
    let mut ctrl = ArcusController::open(&BenchOpener, url, Duration::from_millis(500)).unwrap();
    let timing = aefi_scan_engine::engine::arcus_stage::link_timing(&ctrl);
    ctrl.stop(None).unwrap();
    drop(ctrl);
    let (writer, mut consumer, counters) = ring(1 << 16);
    let live = Arc::new(Live::new(LINES, Arc::new(MonotonicClock)));
    live.attach_ring(counters);
    let (tx, rx) = rtrb::RingBuffer::<Msg>::new(1 << 12);
    let cfg = TriggerConfig {
        mode: TriggerMode::Software,
        cadence: Cadence::Triggered { rate_hz: 1000.0 },
        rate_hz: 1000.0,
        realtime: false,
        speed_pps: SPEED_PPS as f64,
        timing,
        lines: LINES,
    };
    let motion = std::thread::spawn({
        let url = url.to_string();
        move || fly_lines(url, tx)
    });
    reset_violation_count();
    let outcome = run_trigger_loop(cfg, detector, rx, writer, live);
    let violations = violation_count();
    motion.join().unwrap();
    let cols = drain_columns(&mut consumer, None);
    assert!(cols.flags.iter().all(|f| f & flags::DETECTOR_FAULT == 0));
    (violations, cols.len(), outcome.lateness.map_or(0, |l| l.count))
}

#[test]
fn the_guard_sees_an_allocation_in_the_loop_body() {
    // the check the other tests rely on is live in this binary
    reset_violation_count();
    rt_section(|| std::hint::black_box(vec![0u8; 64]));
    assert!(violation_count() > 0);
    reset_violation_count();
    rt_section(|| std::hint::black_box([0u8; 64]));
    assert_eq!(violation_count(), 0);
}

#[test]
fn the_trigger_loop_with_the_virtual_probe_never_allocates() {
    let url = url("probe");
    // the bench is created by its first open
    drop(ArcusController::open(&BenchOpener, &url, Duration::from_millis(500)).unwrap());
    let truth: Arc<dyn TruthSource> = Arc::new(sim_truth_for_url(&url).unwrap());
    let probe = VirtualProbe::new(truth, FieldMap::aefi_default(), BENCH_STEP_UM, 1e-3, 3);
    let (violations, records, ticks) = run_loop(&url, Box::new(probe));
    remove_bench(url.trim_start_matches("sim://").split('?').next().unwrap());
    assert_eq!(violations, 0, "the trigger loop allocated {violations} times");
    assert!(records > 500 && ticks > 500, "{records} records, {ticks} ticks");
}

#[test]
fn the_trigger_loop_with_the_board_detector_never_allocates() {
    let url = url("board");
    drop(ArcusController::open(&BenchOpener, &url, Duration::from_millis(500)).unwrap());
    let driver = BoardDriver::open(&BenchOpener, &url, 1_000_000_000).unwrap();
    let board = BoardDetector::with_sampling(Box::new(driver), 1, BoardSampling::Paced { rate_hz: 1000.0 });
    let counters = board.counters();
    let (violations, records, ticks) = run_loop(&url, Box::new(board));
    remove_bench(url.trim_start_matches("sim://").split('?').next().unwrap());
    assert_eq!(violations, 0, "the trigger loop allocated {violations} times");
    // ~11 ms per board transaction: tens of samples over two lines of ~0.8 s; the beat that
    // collects a self-timed detector's samples is no trigger schedule (no lateness figures)
    assert!(records > 20 && ticks == 0, "{records} records, {ticks} ticks, {counters:?}");
}
