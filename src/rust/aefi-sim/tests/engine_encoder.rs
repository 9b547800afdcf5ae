//! The engine with an encoder on the fast axis, on the PMX-4EX simulator: the encoder (AMT112Q,
//! 2048 lines decoded 4× on a 3200-pulse motor turn) read beside the pulse counter at every poll;
//! a clean line completes, a stalled motor stops the scan, failed, naming the axis and positions.
use aefi_scan_engine::arcus::driver::ArcusController;
use aefi_scan_engine::arcus::protocol::{Axis as ArcusAxis, Command, SpeedParam};
use aefi_scan_engine::engine::arcus_stage::ArcusStage;
use aefi_scan_engine::engine::detector::NoDetector;
use aefi_scan_engine::engine::executor::start;
use aefi_scan_engine::engine::fault::ScanFault;
use aefi_scan_engine::engine::plan::{Axis, FlyPlan};
use aefi_scan_engine::engine::record::Columns;
use aefi_scan_engine::engine::stats::{ScanState, ScanStats};
use aefi_scan_engine::lease::Shared;
use aefi_sim::arcus::Fault;
use aefi_sim::bench::bench_for_url;
use std::time::Duration;

fn controller(url: &str) -> ArcusController {
    let mut c = ArcusController::open(&aefi_sim::opener::BenchOpener, url, Duration::from_secs(1)).unwrap();
    c.transact(&Command::SetParam(SpeedParam::HighSpeed, None, 1500)).unwrap();
    c.set_speeds(ArcusAxis::X, None, Some(10), Some(100), Some(100)).unwrap();
    c
}

fn plan() -> FlyPlan {
    FlyPlan {
        fast_start_steps: 0,
        fast_stop_steps: 3000,
        slow_axis: None,
        speed_pps: 1500.0,
        sample_rate_hz: 200.0,
        realtime: false,
        encoder_counts_per_step: 2.56,
        encoder_max_slip_steps: 16.0,
        ..FlyPlan::default()
    }
}

#[test]
fn a_line_with_the_encoder_read_at_every_poll_completes() {
    let url = "sim://engine-encoder-clean?baud=38400&encoder_ppr=X=2048:3200";
    let shared = Shared::new(controller(url));
    let scan = start(&plan(), ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    // Every poll of X asked for EX too: the simulator answered both on the same link.
    let mut c = shared.lend("check").unwrap();
    let ex = c.encoder_timed(ArcusAxis::X).unwrap().value;
    let px = c.position_timed(ArcusAxis::X).unwrap().value;
    assert_eq!(ex, (2.56 * px as f64 + 1e-6).floor() as i64, "EX {ex}, PX {px}");
}

#[test]
fn a_stalled_motor_stops_the_scan_failed_naming_the_axis_and_positions() {
    let url = "sim://engine-encoder-stall?baud=38400&encoder_ppr=X=2048:3200";
    let shared = Shared::new(controller(url));
    let bench = bench_for_url(url).unwrap();
    let scan = start(&plan(), ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(NoDetector)).unwrap();
    // Once the line flies, the motor stalls; its pulses go on being counted.
    let t_end = std::time::Instant::now() + Duration::from_secs(20);
    while scan.progress().fast_steps < 1000.0 && std::time::Instant::now() < t_end {
        std::thread::sleep(Duration::from_millis(5));
    }
    bench.inject(Fault::Stall { axis: ArcusAxis::X });
    let stats = scan.join(Some(Duration::from_secs(60)));
    assert_eq!(stats.status, ScanState::Failed, "{stats:?}");
    match &stats.error {
        Some(ScanFault::EncoderSlip(e)) => {
            assert_eq!(e.axis, Axis::X);
            assert!(e.slip_steps > 16.0 && e.pulse_after_steps as f64 > e.encoder_steps, "{e}");
            assert!(e.pulse_after_steps < 3000, "seen before the line ended: {e}");
            let msg = e.to_string();
            assert!(msg.starts_with("axis X:") && msg.contains("steps lost"), "{msg}");
        }
        other => panic!("expected an encoder slip, got {other:?}"),
    }
    // The fault path stopped the axis (decelerated STOP, 100 ms ramp): the pulse counter comes to rest.
    let mut c = shared.lend("check").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let p1 = c.position_timed(ArcusAxis::X).unwrap().value;
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(c.position_timed(ArcusAxis::X).unwrap().value, p1);
}

/// Flies three serpentine lines at 1500 pps over a 9600-baud link on a bench whose X has the
/// AMT112Q; `counts_per_step` 0 reads the pulse counter only. Returns the records and statistics.
fn fly_raster(url: &str, counts_per_step: f64) -> (Columns, ScanStats) {
    let shared = Shared::new(controller(url));
    let plan = FlyPlan {
        fast_start_steps: 300,
        fast_stop_steps: 1800,
        slow_axis: Some(Axis::Y),
        slow_start_steps: 0,
        slow_stop_steps: 200,
        lines: 3,
        speed_pps: 1500.0,
        sample_rate_hz: 500.0,
        realtime: false,
        encoder_counts_per_step: counts_per_step,
        ..FlyPlan::default()
    };
    let scan = start(&plan, ArcusStage::new(shared.lend("flyscan").unwrap()), Box::new(NoDetector)).unwrap();
    let stats = scan.join(Some(Duration::from_secs(120)));
    assert_eq!(stats.status, ScanState::Completed, "{stats:?}");
    (scan.drain(None), stats)
}

fn p50_p99(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

/// With the encoder read, every record carries the encoder count where the fitted motion puts
/// the sample, against the simulator's true count; each line's compare output fired at the
/// encoder count of its first grid point, and the engine's stamp of it holds the true instant
/// within its bound. Prints the position errors with and without the encoder, and the stamps'.
#[test]
fn encoder_fitted_positions_and_syn_stamps_against_the_ground_truth() {
    let url = "sim://engine-encoder-syn?baud=9600&encoder_ppr=X=2048:3200";
    let (cols, stats) = fly_raster(url, 2.56);
    let bench = bench_for_url(url).unwrap();
    let truth = &bench.truth;
    assert!(cols.len() > 500, "{} samples", cols.len());
    let true_counts = truth.true_encoder_counts(ArcusAxis::X, &cols.t_ns);
    let count_errs: Vec<f64> = cols.encoder_counts.iter().zip(&true_counts).map(|(c, t)| (c - t).abs()).collect();
    let true_steps = truth.true_positions_steps(ArcusAxis::X, &cols.t_ns);
    let enc_errs: Vec<f64> = cols.fast_steps.iter().zip(&true_steps).map(|(s, t)| (s - t).abs()).collect();
    let (c50, c99) = p50_p99(count_errs);
    // The fit's bound from the physics: a count is 0.39 steps wide, a 9600-baud round trip
    // ~12 ms; the encoder's offset is known to within a count from rests (2.56 counts per step).
    assert!(c99 < 2.56, "encoder count error p50 {c50:.3} / p99 {c99:.3} counts");
    let (e50, e99) = p50_p99(enc_errs);
    assert!(e99 < 1.0, "position error with the encoder p50 {e50:.3} / p99 {e99:.3} steps");

    // The compare output: one firing per line, at the count of the line's first grid point.
    let events: Vec<_> = truth.sync_events().into_iter().filter(|e| e.axis == 'X').collect();
    assert_eq!(events.len(), 3, "{events:?}");
    let mut stamp_errs = Vec::new();
    let mut latencies = Vec::new();
    for (lt, ev) in stats.line_times.iter().zip(&events) {
        let s = lt.sync.unwrap_or_else(|| panic!("line {} has no SYN stamp: {lt:?}", lt.line));
        assert_eq!(s.position_counts, ev.position_counts);
        let first_grid = if lt.line % 2 == 0 { 300.0 } else { 1800.0 };
        assert!((s.position_steps - first_grid).abs() <= 1.0 / 2.56 + 0.5, "{s:?}");
        assert!(s.waiting_ns <= ev.t_ns && ev.t_ns <= s.seen_ns + 2_000_000, "the true instant is inside the bracket: {s:?} {ev:?}");
        let err = (s.t_ns - ev.t_ns) as f64;
        assert!(err.abs() <= s.err_ns + 200_000.0, "line {}: stamp off by {err} ns, bound {} ns", lt.line, s.err_ns);
        stamp_errs.push(err.abs() * 1e-3);
        latencies.push((s.seen_ns - ev.t_ns) as f64 * 1e-3);
    }
    // Without the encoder, on the same motion, for comparison.
    let url0 = "sim://engine-encoder-none?baud=9600&encoder_ppr=X=2048:3200";
    let (cols0, _) = fly_raster(url0, 0.0);
    assert!(cols0.encoder_counts.iter().all(|c| c.is_nan()));
    let truth0 = &bench_for_url(url0).unwrap().truth;
    let true0 = truth0.true_positions_steps(ArcusAxis::X, &cols0.t_ns);
    let (p50, p99) = p50_p99(cols0.fast_steps.iter().zip(&true0).map(|(s, t)| (s - t).abs()).collect());
    assert!(truth0.sync_events().is_empty(), "no encoder in the plan: SYN stays off");
    eprintln!(
        "9600 baud, 1500 pps, 3 lines: position error p50/p99 {e50:.3}/{e99:.3} steps fitted to the encoder \
         ({} samples), {p50:.3}/{p99:.3} fitted to the pulse counter ({} samples); encoder count error p50/p99 \
         {c50:.3}/{c99:.3} counts; SYN stamp |error| {:?} us, seen {:?} us after the true instant",
        cols.len(),
        cols0.len(),
        stamp_errs.iter().map(|e| e.round()).collect::<Vec<_>>(),
        latencies.iter().map(|e| e.round()).collect::<Vec<_>>(),
    );
}
